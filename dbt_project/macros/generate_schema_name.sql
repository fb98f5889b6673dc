{#- Use the folder's schema name as is (marts, dq, ...), not dbt's <target>_<custom> prefix. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
