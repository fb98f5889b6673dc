-- One row per round: reform progress across the units with a valid return in force.
-- Averages are unweighted means over those units, ignoring NULLs.
with

scope as (
    select round_id, count(*) as units_in_scope
    from {{ ref('stg_landing__scope') }}
    group by round_id
),

units as (
    select
        round_id,
        count(*) as units_reported,
        count_if(is_late) as units_late,
        max(one_visit_items) as one_visit_items_max,
        avg(one_visit_items) as one_visit_items_avg,
        max(materials_reduction_rate) as materials_reduction_rate_max,
        {{ stable_avg('materials_reduction_rate', 'unit_code') }} as materials_reduction_rate_avg,
        {{ stable_avg('online_rate', 'unit_code') }} as online_rate_avg,
        count_if(online_rate = 1) as units_online_full,
        count_if(online_rate < 0.5) as units_online_below_half,
        {{ stable_avg('approval_time_compression_rate', 'unit_code') }} as approval_time_compression_rate_avg,
        sum(problem_clues) as problem_clues_total,
        avg(negative_cases) as negative_cases_avg,
        count_if(negative_cases = 0) as units_zero_negative_cases,
        count_if(secret_inspection_groups = 0) as units_without_secret_inspection
    from {{ ref('reform_unit_round') }}
    group by round_id
)

select
    r.round_id::varchar as round_id,
    coalesce(s.units_in_scope, 0)::bigint as units_in_scope,
    coalesce(u.units_reported, 0)::bigint as units_reported,
    coalesce(u.units_late, 0)::bigint as units_late,
    (coalesce(s.units_in_scope, 0) - coalesce(u.units_reported, 0))::bigint as units_missing,
    u.one_visit_items_max::bigint as one_visit_items_max,
    u.one_visit_items_avg::double as one_visit_items_avg,
    u.materials_reduction_rate_max::double as materials_reduction_rate_max,
    u.materials_reduction_rate_avg::double as materials_reduction_rate_avg,
    u.online_rate_avg::double as online_rate_avg,
    coalesce(u.units_online_full, 0)::bigint as units_online_full,
    coalesce(u.units_online_below_half, 0)::bigint as units_online_below_half,
    u.approval_time_compression_rate_avg::double as approval_time_compression_rate_avg,
    coalesce(u.problem_clues_total, 0)::bigint as problem_clues_total,
    u.negative_cases_avg::double as negative_cases_avg,
    coalesce(u.units_zero_negative_cases, 0)::bigint as units_zero_negative_cases,
    coalesce(u.units_without_secret_inspection, 0)::bigint as units_without_secret_inspection,
    -- reformwatch additions
    r.title::varchar as title,
    r.deadline::timestamptz as deadline
from {{ ref('stg_landing__rounds') }} as r
left join scope as s on s.round_id = r.round_id
left join units as u on u.round_id = r.round_id
