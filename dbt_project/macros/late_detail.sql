{#- The late_submission detail, the same for progress returns and exam sheets. -#}
{% macro late_detail(path, submitted_at, deadline) -%}
    {{ path }} || ': submitted ' || strftime(timezone('Asia/Shanghai', {{ submitted_at }}), '%Y-%m-%d %H:%M')
        || ', after the round deadline ' || strftime(timezone('Asia/Shanghai', {{ deadline }}), '%Y-%m-%d %H:%M')
        || ' (Asia/Shanghai); it is counted and reported as late'
{%- endmacro %}

{#- The value a late_submission issue is about: the submission time, Asia/Shanghai. -#}
{% macro late_value(submitted_at) -%}
    strftime(timezone('Asia/Shanghai', {{ submitted_at }}), '%Y-%m-%d %H:%M')
{%- endmacro %}
