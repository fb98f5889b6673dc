-- Exam rows of the sheet in force that survive row-level errors, de-duplicated:
-- identical copies of an examinee's row keep one (duplicate_examinee_row, warning);
-- differing copies are all excluded (conflicting_examinee_rows, error).
-- A view: the staging rows of the sheets in force with what int_exam__file_exceptions (checked per
-- file, incrementally) says of the few that are not plain unique rows.
{{ config(materialized='view') }}
select
    r.* exclude (row_signature),
    coalesce(e.copy_status, 'unique') as copy_status,
    coalesce(e.is_counted, true) as is_counted
from {{ ref('stg_landing__exam_rows') }} as r
semi join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
left join {{ ref('int_exam__file_exceptions') }} as e on e.file_id = r.file_id and e.row_number = r.row_number
where e.has_error is not true
