-- Score distribution per round in 20 equal bins of the full marks (for histograms): aggregates only,
-- no individual appears. The last bin includes the full marks.
with

rows as (
    select r.round_id, r.score, rd.exam_full_marks
    from {{ ref('int_exam__rows') }} as r
    inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
    where r.is_counted and r.status = 'attended'
),

bins as (
    select rd.round_id, b.bin, rd.exam_full_marks
    from {{ ref('stg_landing__rounds') }} as rd
    cross join range(20) as b(bin)
)

select
    b.round_id::varchar as round_id,
    b.bin::integer as bin,
    (b.exam_full_marks * b.bin / 20)::double as score_from,
    (b.exam_full_marks * (b.bin + 1) / 20)::double as score_to,
    count(r.score)::bigint as examinees
from bins as b
left join rows as r
    on r.round_id = b.round_id
    and least(floor(r.score * 20 / r.exam_full_marks), 19) = b.bin
group by all
order by 1, 2
