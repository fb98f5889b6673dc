{#- Fails with the duplicated keys when a combination of columns is not unique.
    this_build_only: only the rows the current dbt build added (column dbt_invocation_id). The id is
    rendered here, when the test runs: a `where` config would be rendered at parse time and kept by
    partial parsing, i.e. stale on the next build. -#}
{% test unique_combination(model, columns, this_build_only=false) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
{% if this_build_only %}where dbt_invocation_id = '{{ invocation_id }}'{% endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
