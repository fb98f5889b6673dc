{#- The config of a per-file incremental model (int_exam__file_exceptions, _file_stats, _sheets): each run appends
    the files of the kind it has not seen (new_readable_files) and drops those no longer readable. -#}
{% macro per_file_incremental(kind) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        post_hook="{{ drop_gone_files('" ~ kind ~ "') }}"
    ) }}
{%- endmacro %}

{#- file_ids of readable files of a kind; in an incremental run only those not yet in the model. -#}
{% macro new_readable_files(kind) -%}
    select file_id from {{ ref('stg_landing__files') }}
    where kind = '{{ kind }}' and is_readable
    {% if is_incremental() %}
        and file_id not in (select distinct file_id from {{ this }})
    {% endif %}
{%- endmacro %}

{#- post-hook of a per-file incremental model: drop the files that are no longer readable landing files. -#}
{% macro drop_gone_files(kind) -%}
    delete from {{ this }} where file_id not in
        (select file_id from {{ ref('stg_landing__files') }} where kind = '{{ kind }}' and is_readable)
{%- endmacro %}

{#- A predicate on `column` that keeps the rows of new_readable_files(kind). In an incremental run the
    new file_ids are looked up first and written into the SQL as constants, so DuckDB skips the row
    groups of files already built (min/max per row group) instead of joining every row. -#}
{% macro new_file_filter(kind, column='file_id') -%}
    {%- if execute and is_incremental() -%}
        {%- set ids = run_query(new_readable_files(kind) ~ ' order by 1').columns[0].values() -%}
        {%- if ids | length == 0 -%}
            false
        {%- else -%}
            {{ column }} between {{ ids | min }} and {{ ids | max }} and {{ column }} in ({{ ids | join(', ') }})
        {%- endif -%}
    {%- else -%}
        {{ column }} in ({{ new_readable_files(kind) }})
    {%- endif -%}
{%- endmacro %}
