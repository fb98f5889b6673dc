{#- Average of a DOUBLE expression, summed in a fixed order so that re-runs give bit-identical results
    (a parallel avg() may add the same numbers in a different order). NULLs are ignored. -#}
{% macro stable_avg(expr, order_by) -%}
    list_avg(list({{ expr }} order by {{ order_by }}) filter (where {{ expr }} is not null))
{%- endmacro %}

{#- Sum of a DOUBLE expression in a fixed order (see stable_avg). NULLs are ignored. -#}
{% macro stable_sum(expr, order_by) -%}
    list_sum(list({{ expr }} order by {{ order_by }}) filter (where {{ expr }} is not null))
{%- endmacro %}
