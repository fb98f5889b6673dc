-- One row per (round, unit) with at least one valid attended exam row.
with

rows as (
    select r.*, rd.pass_mark, rd.excellent_mark, rd.exam_full_marks
    from {{ ref('int_exam__rows') }} as r
    inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
    where r.is_counted
),

units as (
    select
        round_id,
        file_unit_code as unit_code,
        count_if(status = 'attended') as examinees,
        count_if(status = 'absent') as absent,
        {{ stable_avg("case when status = 'attended' then score end", 'file_id, row_number') }} as avg_score,
        count_if(status = 'attended' and score >= pass_mark) as pass_count,
        count_if(status = 'attended' and score < pass_mark) as fail_count,
        count_if(status = 'attended' and score >= excellent_mark) as excellent_count,
        count_if(status = 'attended' and score = exam_full_marks) as full_score_count,
        count_if(status = 'attended' and discipline_note is not null) as discipline_incidents
    from rows
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
