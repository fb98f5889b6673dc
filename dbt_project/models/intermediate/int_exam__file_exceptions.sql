{{ per_file_incremental('exam_sheet') }}
-- The rows of each exam sheet that issues, absence counts and counted rows need: a row-check problem,
-- a duplicate or conflicting copy, or an absence. A few percent of the rows (exam_checked_rows, the
-- logic of the view int_exam__file_rows, run here on the new sheets only), so the issue and absence
-- models read this instead of checking every row on every run, and int_exam__file_stats counts the
-- staging rows that are not here as not counted. Incremental per file (per_file_incremental).
select
    file_id,
    round_id,
    file_unit_code,
    row_number,
    path,
    examinee_id,
    status,
    absence_reason,
    status_raw,
    rank_level_raw,
    score_raw,
    {%- for name in row_check_names() %}
    check_{{ name }},
    {%- endfor %}
    has_error,
    copy_status,
    is_counted,
    '{{ invocation_id }}' as dbt_invocation_id
from ({{ exam_checked_rows(new_exam_sheets()) }}) as checked_rows
where
    status = 'absent'
    or copy_status != 'unique'
    or coalesce({% for name in row_check_names() %}check_{{ name }}{{ ", " if not loop.last }}{% endfor %})
    is not null
