{#- Average of a DOUBLE expression, summed in a fixed order so that re-runs give bit-identical results
    (a parallel avg() may add the same numbers in a different order). NULLs are ignored. -#}
{% macro stable_avg(expr, order_by) -%}
    list_avg(list({{ expr }} order by {{ order_by }}) filter (where {{ expr }} is not null))
{%- endmacro %}

{#- Sum of a DOUBLE expression as an exact DECIMAL(38, 10): the same total in any order, so re-runs and
    parallel plans give bit-identical results without ordering the rows (an ordered list per group cost
    seconds at national scale). Values are rounded to 10 decimal places first; NULLs are ignored. -#}
{% macro exact_sum(expr) -%}
    sum(({{ expr }})::decimal(38, 10))
{%- endmacro %}
