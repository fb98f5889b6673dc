{{ per_file_incremental('exam') }}
-- The rows of each exam sheet that issues, absence counts and counted rows need: a row-check problem,
-- a duplicate or conflicting copy, or an absence. A few percent of the rows (exam_checked_rows, the
-- logic of the view int_exam__file_rows, run here on the new sheets only), so the issue and absence
-- models read this instead of checking every row on every run, and int_exam__file_stats counts the
-- staging rows that are not here as not counted. Incremental per file; each sheet also gets one row 0
-- (every other column empty, so no consumer's condition matches it): a sheet without exceptions is
-- then known as built and not looked at again.
{% set new_files = new_file_filter('exam') %}{#- the new sheets, looked up once for both parts #}
select
    file_id,
    round_id,
    file_unit_code,
    row_number,
    path,
    examinee_id,
    status,
    absence_reason,
    {%- for name in row_check_names() %}
    check_{{ name }},
    {%- endfor %}
    has_error,
    copy_status,
    is_counted,
    '{{ invocation_id }}' as dbt_invocation_id
from ({{ exam_checked_rows(new_files) }}) as checked_rows
where (
        status = 'absent'
        or copy_status != 'unique'
        or coalesce({% for name in row_check_names() %}check_{{ name }}{{ ", " if not loop.last }}{% endfor %})
        is not null
    )

union all by name
select
    file_id,
    round_id,
    unit_code as file_unit_code,
    0 as row_number,
    path,
    '{{ invocation_id }}' as dbt_invocation_id
from {{ ref('stg_landing__files') }}
where {{ new_files }}
