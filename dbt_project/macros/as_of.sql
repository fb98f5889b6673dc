{#- The run's as-of instant: only decides whether a deadline has passed. The pipeline writes it into
    raw.run_params before each build; a build without that row (dbt run by hand on an empty work
    database) uses the var as_of (dbt_project.yml, or --vars). -#}
{% macro as_of() -%}
    coalesce((select max(as_of) from {{ source('landing', 'run_params') }}), cast('{{ var("as_of") }}' as timestamptz))
{%- endmacro %}
