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
