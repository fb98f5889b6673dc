-- Progress checks: error-level ones on every version, warnings on the version in force only.
with

returns as (select * from {{ ref('int_progress__returns') }}),

in_force as (select * from {{ ref('int_progress__in_force') }}),

next_version as (
    select round_id, unit_code, max(version) + 1 as next_version
    from {{ ref('stg_landing__files') }}
    where kind = 'progress'
    group by all
),

resubmit as (
    select r.file_id,
        case
            when f.version > r.version
                then f.path || ' (version ' || f.version || ') replaces it and is used'
            else 'send the corrected return as ' || r.unit_code || '__v' || n.next_version || '.csv'
        end as hint
    from returns as r
    inner join next_version as n using (round_id, unit_code)
    left join in_force as f using (round_id, unit_code)
),

issues as (
    select file_id, 'progress_row_count' as check_name, null::bigint as row_number,
        path || ': a progress return must have exactly one data row under the header, this one has '
        || n_rows || '; keep only your unit''s row' as detail, n_rows::varchar as value
    from returns where failed_stage = 'progress_row_count'

    union all
    select file_id, 'unit_code_mismatch', 1,
        path || ': the row''s unit_code is ' || coalesce('"' || row_unit_code || '"', 'empty')
        || ' but the file is named for ' || unit_code || '; write ' || unit_code || ' in the unit_code cell',
        row_unit_code
    from returns where failed_stage = 'unit_code_mismatch'

    union all
    select file_id, 'invalid_value', 1,
        path || ', row 1: ' || v.column_name || ' ' || v.problem
        || coalesce(' (found "' || v.value || '")', '') || '; '
        || case
            when v.column_name = 'submitted_at' then 'enter the submission date and time'
            when v.column_name like 'has_%' then 'enter 是 or 否'
            else 'enter a whole number, 0 or more'
        end,
        v.column_name || ' = ' || coalesce(v.value, '(空)')
    from (select file_id, path, unnest(invalid_values) as v from returns where failed_stage = 'invalid_value')

    union all
    select file_id, 'online_exceeds_total', 1,
        path || ', row 1: service_items_online (' || service_items_online
        || ') is more than service_items_total (' || service_items_total
        || '); the items that can be done online are part of all items: correct one of the two',
        service_items_online || ' > ' || service_items_total
    from returns where failed_stage = 'consistency' and service_items_online > service_items_total

    union all
    select file_id, 'one_visit_exceeds_total', 1,
        path || ', row 1: one_visit_items (' || one_visit_items
        || ') is more than service_items_total (' || service_items_total
        || '); "at most one visit" items are part of all items: correct one of the two',
        one_visit_items || ' > ' || service_items_total
    from returns where failed_stage = 'consistency' and one_visit_items > service_items_total

    union all
    select file_id, 'materials_increased', 1,
        path || ', row 1: materials_now (' || materials_now || ') is more than materials_before ('
        || materials_before || '); the figures are counted, but check them: the reform should reduce documents',
        materials_now || ' > ' || materials_before
    from in_force where materials_now > materials_before

    union all
    select file_id, 'approval_days_increased', 1,
        path || ', row 1: approval_days_now (' || approval_days_now || ') is more than approval_days_before ('
        || approval_days_before || '); the figures are counted, but check them',
        approval_days_now || ' > ' || approval_days_before
    from in_force where approval_days_now > approval_days_before

    union all
    select file_id, 'late_submission', null,
        {{ late_detail('path', 'submitted_at', 'deadline') }},
        {{ late_value('submitted_at') }}
    from in_force where is_late
)

select
    r.round_id,
    r.unit_code,
    'progress' as source,
    i.check_name,
    i.detail || case when i.check_name in ('materials_increased', 'approval_days_increased', 'late_submission')
        then '' else '. This version is not used; ' || s.hint end as detail,
    i.value,
    r.path as file_path,
    r.version as file_version,
    i.row_number,
    r.first_seen_at as detected_at
from issues as i
inner join returns as r on r.file_id = i.file_id
inner join resubmit as s on s.file_id = i.file_id
