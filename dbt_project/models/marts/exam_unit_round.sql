-- One row per (round, unit) with at least one valid attended exam row: the in-force sheet's partial
-- aggregates (int_exam__file_stats) added up.
with

units as (
    select
        s.round_id,
        s.unit_code,
        sum(s.examinees) as examinees,
        sum(s.absent) as absent,
        {{ stable_sum('s.score_sum', 's.rank_level, s.bin') }} / nullif(sum(s.scored), 0) as avg_score,
        sum(s.pass_count) as pass_count,
        sum(s.fail_count) as fail_count,
        sum(s.excellent_count) as excellent_count,
        sum(s.full_score_count) as full_score_count,
        sum(s.discipline_incidents) as discipline_incidents
    from {{ ref('int_exam__file_stats') }} as s
    semi join {{ ref('int_exam__in_force') }} as f on f.file_id = s.file_id
    group by all
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
    rank() over (partition by u.round_id order by u.avg_score desc)::bigint as rank_in_round,
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
