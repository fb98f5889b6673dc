{{ config(materialized='view') }}
-- Row-level checks on the rows of the exam sheet in force: one row per (row, problem). A view: the few
-- rows with a problem (int_exam__file_exceptions) are unpivoted when issues are built.
with

problem_rows as materialized (
    select
        r.file_id,
        r.row_number,
        r.path,
        r.examinee_id,
        r.status_raw,
        r.rank_level_raw,
        r.score_raw,
        {%- for name in row_check_names() %}
        r.check_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('int_exam__file_exceptions') }} as r
    semi join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
    where coalesce({% for name in row_check_names() %}r.check_{{ name }}{{ ", " if not loop.last }}{% endfor %})
        is not null
)

{% for name in row_check_names() %}
select file_id, row_number, path, examinee_id, '{{ name }}' as check_name, check_{{ name }} as problem,
    {{ row_check_value(name) }} as value
from problem_rows
where check_{{ name }} is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
