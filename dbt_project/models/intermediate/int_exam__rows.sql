-- Exam rows of the sheet in force that survive row-level errors, de-duplicated:
-- identical copies of an examinee's row keep one (duplicate_examinee_row, warning);
-- differing copies are all excluded (conflicting_examinee_rows, error).
with

row_errors as (
    select distinct c.file_id, c.row_number
    from {{ ref('int_exam__row_checks') }} as c
    inner join {{ ref('checks') }} as k on k.check_name = c.check_name
    where k.severity = 'error'
),

clean_rows as (
    select r.*
    from {{ ref('stg_landing__exam_rows') }} as r
    inner join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
    anti join row_errors as e on e.file_id = r.file_id and e.row_number = r.row_number
),

copies as (
    select
        *,
        count(*) over (partition by file_id, examinee_id) as n_copies,
        count(distinct row_signature) over (partition by file_id, examinee_id) as n_versions,
        row_number() over (partition by file_id, examinee_id order by row_number) as copy_number
    from clean_rows
)

select
    *,
    case
        when n_copies = 1 then 'unique'
        when n_versions = 1 then 'duplicate'
        else 'conflicting'
    end as copy_status,
    n_versions = 1 and copy_number = 1 as is_counted
from copies
