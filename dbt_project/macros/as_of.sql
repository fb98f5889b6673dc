{#- The run's as-of instant: only decides whether a deadline has passed. -#}
{% macro as_of() -%}
    cast('{{ var("as_of") }}' as timestamptz)
{%- endmacro %}
