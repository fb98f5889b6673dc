-- Row-level checks on the rows of the exam sheet in force: one row per (row, problem).
{% for name in row_check_names() %}
select r.file_id, r.row_number, r.path, r.examinee_id, '{{ name }}' as check_name, r.check_{{ name }} as problem
from {{ ref('int_exam__file_rows') }} as r
semi join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
where r.check_{{ name }} is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
