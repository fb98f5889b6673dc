-- One row per round: the exam pooled over examinees, plus the spread of unit averages.
with

pooled as (
    select
        t.round_id,
        sum(t.examinees) as examinees,
        sum(t.absent) as absent,
        sum(t.score_sum)::double / nullif(sum(t.scored), 0) as avg_score,
        sum(t.pass_count) as pass_count,
        sum(t.excellent_count) as excellent_count,
        sum(t.full_score_count) as full_score_count
    from {{ ref('int_exam__file_totals') }} as t
    semi join {{ ref('int_exam__in_force') }} as f on f.file_id = t.file_id
    group by t.round_id
),

units as (
    select
        round_id,
        count(*) as units,
        max(avg_score) as unit_avg_max,
        min(avg_score) as unit_avg_min,
        count_if(fail_count > 0) as units_with_failures,
        count_if(discipline_incidents > 0) as units_with_discipline_incidents
    from {{ ref('exam_unit_round') }}
    group by round_id
),

headcount as (
    select round_id, sum(cadre_headcount) as cadre_headcount
    from {{ ref('stg_landing__scope') }}
    group by round_id
)

select
    r.round_id::varchar as round_id,
    coalesce(u.units, 0)::bigint as units,
    coalesce(p.examinees, 0)::bigint as examinees,
    coalesce(p.absent, 0)::bigint as absent,
    coalesce(h.cadre_headcount, 0)::bigint as cadre_headcount,
    -- a share by definition: left empty while the registry says fewer cadres than sat the exam
    -- (participation_over_headcount tells the office which unit's headcount to correct)
    case when coalesce(p.examinees, 0) <= h.cadre_headcount
        then coalesce(p.examinees, 0)::double / nullif(h.cadre_headcount, 0) end as participation_rate,
    p.avg_score::double as avg_score,
    (p.pass_count::double / nullif(p.examinees, 0)) as pass_rate,
    (p.excellent_count::double / nullif(p.examinees, 0)) as excellent_rate,
    (p.full_score_count::double / nullif(p.examinees, 0)) as full_score_rate,
    u.unit_avg_max::double as unit_avg_max,
    u.unit_avg_min::double as unit_avg_min,
    (u.unit_avg_max - u.unit_avg_min)::double as unit_avg_spread,
    coalesce(u.units_with_failures, 0)::bigint as units_with_failures,
    coalesce(u.units_with_discipline_incidents, 0)::bigint as units_with_discipline_incidents
from {{ ref('stg_landing__rounds') }} as r
left join pooled as p on p.round_id = r.round_id
left join units as u on u.round_id = r.round_id
left join headcount as h on h.round_id = r.round_id
