-- Progress rows of the files in the landing zone: trimmed text (<col>_raw) and typed values.
select
    f.file_id,
    f.path,
    f.round_id,
    f.unit_code as file_unit_code,
    f.version,
    f.first_seen_at,
    r.row_number,
    raw.clean(r.unit_code) as unit_code,
    raw.clean(r.submitted_at) as submitted_at_raw,
    raw.parse_ts(r.submitted_at) as submitted_at,
    {%- for c in progress_count_columns() %}
    raw.clean(r.{{ c }}) as {{ c }}_raw,
    raw.parse_count(r.{{ c }}) as {{ c }},
    {%- endfor %}
    {%- for c in progress_bool_columns() %}
    raw.clean(r.{{ c }}) as {{ c }}_raw,
    raw.parse_bool(r.{{ c }}) as {{ c }}{{ "," if not loop.last }}
    {%- endfor %}
from {{ ref('stg_landing__files') }} as f
inner join {{ source('landing', 'progress_rows') }} as r on r.file_id = f.file_id
where f.kind = 'progress' and f.is_readable
