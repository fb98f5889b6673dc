{#- The run's as-of instant: only decides whether a deadline has passed. The pipeline sets it in
    REFORMWATCH_AS_OF, read only when models run (not while dbt parses), so a new as-of every run keeps
    dbt's partial parsing (a changed --vars value makes dbt re-parse the whole project, about 3-4 s).
    Without it, the var as_of (dbt_project.yml, or --vars) applies. -#}
{% macro as_of() -%}
    cast('{{ env_var("REFORMWATCH_AS_OF", var("as_of")) if execute else var("as_of") }}' as timestamptz)
{%- endmacro %}
