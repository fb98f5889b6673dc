{#- Round-scoped incremental roll-ups: a model that adds up per-file results into rounds rebuilds, in an
    incremental build, only the rows of what changed since the last successful build, as the pipeline
    names it (reformwatch/rebuild_scope.py):
    - REFORMWATCH_REBUILD_ROUNDS, a JSON list: rounds rebuilt whole (a new round, a deadline passed, or
      many units changed);
    - REFORMWATCH_REBUILD_UNITS, a JSON object: round -> the only units with a changed file in it. A model
      with a row per unit (unit_column given) rebuilds those units' rows, and the rows without a unit; any
      other model (round totals, ranks within a round) rebuilds those rounds whole.
    So a resubmission costs one unit, or one round, whatever the history. Without the variables (dbt run
    by hand) every round is rebuilt; a full refresh builds the whole table. -#}
{% macro by_round(unit_column=none) -%}
    {%- set units_arg = ("'" ~ unit_column ~ "'") if unit_column else "none" -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ rebuilt_rounds(unit_column="
            ~ units_arg ~ ") }}{% endif %}"
    ) }}
{%- endmacro %}

{#- A predicate on `column` (and `unit_column`, for a model with a row per unit): true for the rows an
    incremental build of a by_round() model rebuilds. Rows without a round are always rebuilt. Read only
    when models run, like as_of(). -#}
{% macro rebuilt_rounds(column='round_id', unit_column=none) -%}
    {%- set building = execute and is_incremental() -%}
    {%- set rounds = fromjson(env_var('REFORMWATCH_REBUILD_ROUNDS', 'null')) if building else none -%}
    {%- set units = fromjson(env_var('REFORMWATCH_REBUILD_UNITS', '{}')) if building else {} -%}
    {%- if rounds is none -%}
        true
    {%- else -%}
        {%- set whole = rounds + ([] if unit_column else units.keys() | list) -%}
        ({{ column }} is null
        {%- if whole %} or {{ column }} in ({{ quoted_list(whole) }}){% endif -%}
        {%- if unit_column -%}
            {%- for round_id, codes in units.items() %}
            or ({{ column }} = {{ quoted_list([round_id]) }} and ({{ unit_column }} is null
                {%- if codes %} or {{ unit_column }} in ({{ quoted_list(codes) }}){% endif %}))
            {%- endfor -%}
        {%- endif -%})
    {%- endif -%}
{%- endmacro %}

{%- macro quoted_list(values) -%}
    {%- for v in values %}'{{ v | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}
