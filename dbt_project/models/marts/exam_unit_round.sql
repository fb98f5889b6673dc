-- One row per (round, unit) with at least one valid attended exam row: the totals of the unit's sheet
-- in force (int_exam__file_totals).
with

units as (
    select
        t.round_id,
        t.unit_code,
        t.examinees,
        t.absent,
        t.score_sum::double / nullif(t.scored, 0) as avg_score,
        -- the average as an exact integer key for ranking (score_sum is an exact decimal with 10 places):
        -- equal averages in decimal (261.3 / 3 and 871 / 10) tie, which their doubles may not
        (t.score_sum * 10000000000)::hugeint * 1000000000000 // nullif(t.scored, 0) as avg_key,
        t.pass_count,
        t.fail_count,
        t.excellent_count,
        t.full_score_count,
        t.discipline_incidents
    from {{ ref('int_exam__file_totals') }} as t
    semi join {{ ref('int_exam__in_force') }} as f on f.file_id = t.file_id
)

select
    u.round_id::varchar as round_id,
    u.unit_code::varchar as unit_code,
    n.unit_name::varchar as unit_name,
    u.examinees::bigint as examinees,
    u.absent::bigint as absent,
    u.avg_score::double as avg_score,
    u.pass_count::bigint as pass_count,
    u.fail_count::bigint as fail_count,
    u.excellent_count::bigint as excellent_count,
    u.full_score_count::bigint as full_score_count,
    u.pass_count::double / u.examinees as pass_rate,
    u.excellent_count::double / u.examinees as excellent_rate,
    u.full_score_count::double / u.examinees as full_score_rate,
    rank() over (partition by u.round_id order by u.avg_key desc)::bigint as rank_in_round,
    u.discipline_incidents::bigint as discipline_incidents,
    -- lineage (reformwatch additions)
    s.version::integer as version,
    s.submitted_at::timestamptz as submitted_at,
    s.is_late::boolean as is_late,
    s.path::varchar as source_file
from units as u
inner join {{ ref('stg_landing__units') }} as n on n.unit_code = u.unit_code
inner join {{ ref('int_exam__in_force') }} as s on s.round_id = u.round_id and s.unit_code = u.unit_code
where u.examinees >= 1
