-- Exam rows of the sheet in force that survive row-level errors, de-duplicated:
-- identical copies of an examinee's row keep one (duplicate_examinee_row, warning);
-- differing copies are all excluded (conflicting_examinee_rows, error).
-- A view over int_exam__file_rows, where the per-file work is done (incrementally).
{{ config(materialized='view') }}
select r.*
from {{ ref('int_exam__file_rows') }} as r
semi join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
where not r.has_error
