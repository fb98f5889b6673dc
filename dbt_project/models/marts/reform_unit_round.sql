-- One row per (round, unit) with a valid progress version in force.
select
    p.round_id::varchar as round_id,
    p.unit_code::varchar as unit_code,
    u.unit_name::varchar as unit_name,
    p.version::integer as version,
    p.submitted_at::timestamptz as submitted_at,
    p.is_late::boolean as is_late,
    p.service_items_online::double / nullif(p.service_items_total, 0) as online_rate,
    p.one_visit_items::bigint as one_visit_items,
    1 - p.materials_now::double / nullif(p.materials_before, 0) as materials_reduction_rate,
    1 - p.approval_days_now::double / nullif(p.approval_days_before, 0) as approval_time_compression_rate,
    p.problem_clues::bigint as problem_clues,
    p.negative_cases::bigint as negative_cases,
    p.secret_inspection_groups::bigint as secret_inspection_groups,
    p.inspections::bigint as inspections,
    p.training_sessions::bigint as training_sessions,
    p.training_attendance::bigint as training_attendance,
    p.has_duty_list::boolean as has_duty_list,
    p.has_handbook::boolean as has_handbook,
    p.has_question_bank::boolean as has_question_bank,
    p.self_exams::bigint as self_exams,
    -- lineage (reformwatch additions)
    p.service_items_total::bigint as service_items_total,
    p.service_items_online::bigint as service_items_online,
    p.materials_before::bigint as materials_before,
    p.materials_now::bigint as materials_now,
    p.approval_days_before::bigint as approval_days_before,
    p.approval_days_now::bigint as approval_days_now,
    p.path::varchar as source_file
from {{ ref('int_progress__in_force') }} as p
inner join {{ ref('stg_landing__units') }} as u on u.unit_code = p.unit_code
