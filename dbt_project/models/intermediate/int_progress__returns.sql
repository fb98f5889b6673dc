{{ per_file_incremental('progress') }}
-- One row per readable progress file, checked stage by stage (CONTRACT.md section 2):
-- row count -> unit_code -> values -> consistency. is_valid = passed every error-level check.
-- Everything depends on one file only: incremental per file, like the exam sheets' models.
with

files as (
    select * from {{ ref('stg_landing__files') }}
    where {{ new_files('progress') }}
),

row_counts as (
    select file_id, count(*) as n_rows
    from {{ ref('stg_landing__progress_returns') }}
    where file_id in (select file_id from files)
    group by file_id
),

single_rows as (
    select r.*
    from {{ ref('stg_landing__progress_returns') }} as r
    inner join row_counts as c on c.file_id = r.file_id and c.n_rows = 1
),

checked as (
    select
        f.file_id,
        f.path,
        f.round_id,
        f.unit_code,
        f.version,
        f.first_seen_at,
        coalesce(c.n_rows, 0) as n_rows,
        r.unit_code as row_unit_code,
        r.submitted_at,
        {%- for col in progress_count_columns() + progress_bool_columns() %}
        r.{{ col }},
        {%- endfor %}
        list_filter([
            {'column_name': 'submitted_at', 'value': r.submitted_at_raw,
             'problem': case
                 when r.submitted_at_raw is null then 'is empty'
                 when r.submitted_at is null then 'is not a date-time like 2018-09-14T13:34:00+08:00'
             end},
            {%- for col in progress_count_columns() %}
            {'column_name': '{{ col }}', 'value': r.{{ col }}_raw,
             'problem': case
                 when r.{{ col }}_raw is null then 'is empty'
                 when raw.parse_number(r.{{ col }}_raw) is null then 'is not a number'
                 when raw.parse_number(r.{{ col }}_raw) < 0 then 'is negative'
                 when r.{{ col }} is null then 'is not a whole number'
             end},
            {%- endfor %}
            {%- for col in progress_bool_columns() %}
            {'column_name': '{{ col }}', 'value': r.{{ col }}_raw,
             'problem': case
                 when r.{{ col }}_raw is null then 'is empty'
                 when r.{{ col }} is null then 'is not 是/否 (yes/no, true/false, 1/0)'
             end}{{ "," if not loop.last }}
            {%- endfor %}
        ], lambda x: x.problem is not null) as invalid_values
    from files as f
    left join row_counts as c on c.file_id = f.file_id
    left join single_rows as r on r.file_id = f.file_id
)

select
    *,
    case
        when n_rows != 1 then 'progress_row_count'
        when row_unit_code is distinct from unit_code then 'unit_code_mismatch'
        when len(invalid_values) > 0 then 'invalid_value'
        when service_items_online > service_items_total
            or one_visit_items > service_items_total then 'consistency'
    end as failed_stage,
    failed_stage is null as is_valid
from checked
