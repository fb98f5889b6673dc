{#- Round-scoped incremental roll-ups: a model that adds up per-file results into rounds rebuilds, in an
    incremental build, only the rows of the rounds the pipeline names in REFORMWATCH_REBUILD_ROUNDS (a
    JSON list: rounds with a changed file, or whose deadline passed, since the last successful build),
    so a resubmission costs one round whatever the history. Without the variable (dbt run by hand)
    every round is rebuilt; a full refresh builds the whole table. -#}
{% macro by_round() -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ rebuilt_rounds() }}{% endif %}"
    ) }}
{%- endmacro %}

{#- A predicate on `column`: true for the rows an incremental build of a by_round() model rebuilds. Rows
    without a round are always rebuilt. Read only when models run, like as_of(). -#}
{% macro rebuilt_rounds(column='round_id') -%}
    {%- set rounds = fromjson(env_var('REFORMWATCH_REBUILD_ROUNDS', 'null')) if execute and is_incremental() else none -%}
    {%- if rounds is none -%}
        true
    {%- elif rounds | length == 0 -%}
        {{ column }} is null
    {%- else -%}
        ({{ column }} is null or {{ column }} in (
            {%- for r in rounds %}'{{ r | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
        ))
    {%- endif -%}
{%- endmacro %}
