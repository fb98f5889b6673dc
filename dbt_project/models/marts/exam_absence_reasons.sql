-- Absences per round, unit and stated reason (缺考原因): counts only, no individual appears.
select
    round_id::varchar as round_id,
    file_unit_code::varchar as unit_code,
    coalesce(absence_reason, '未说明')::varchar as absence_reason,
    count(*)::bigint as absent
from {{ ref('int_exam__file_exceptions') }} as r  -- absent rows are among a sheet's exceptions
semi join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
where is_counted and status = 'absent'
group by all
