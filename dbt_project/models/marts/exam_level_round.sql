-- One row per (round, rank level) with valid attended rows; rates pooled over examinees.
select
    r.round_id::varchar as round_id,
    r.rank_level::varchar as rank_level,
    count(*)::bigint as examinees,
    {{ stable_avg('r.score', 'r.file_id, r.row_number') }}::double as avg_score,
    (count_if(r.score >= rd.pass_mark)::double / count(*)) as pass_rate,
    (count_if(r.score >= rd.excellent_mark)::double / count(*)) as excellent_rate,
    (count_if(r.score = rd.exam_full_marks)::double / count(*)) as full_score_rate
from {{ ref('int_exam__rows') }} as r
inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
where r.is_counted and r.status = 'attended'
group by all
