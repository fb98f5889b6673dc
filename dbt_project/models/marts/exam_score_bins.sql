-- Score distribution per round in 20 equal bins of the full marks (for histograms): aggregates only,
-- no individual appears. The last bin includes the full marks.
with

counts as (
    select round_id, unnest(range(20)) as bin, unnest(examinees) as examinees
    from (
        select s.round_id,
            [{% for b in range(1, 21) %}sum(s.bin_examinees[{{ b }}]){{ ", " if not loop.last }}{% endfor %}] as examinees
        from {{ ref('int_exam__file_stats') }} as s
        semi join {{ ref('int_exam__in_force') }} as f on f.file_id = s.file_id
        group by s.round_id
    )
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
    coalesce(c.examinees, 0)::bigint as examinees
from bins as b
left join counts as c on c.round_id = b.round_id and c.bin = b.bin
order by 1, 2
