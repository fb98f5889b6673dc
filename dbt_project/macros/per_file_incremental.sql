{#- Per-file incremental models: a resubmission costs one file, whatever the history.
    - int_progress__returns and int_exam__sheets hold one row per readable file of their kind. Each
      build first drops the rows of files that are no longer readable (and, for exam sheets, those
      scored with other marks than their round's now), then appends the files it does not hold
      (new_files).
    - int_exam__file_exceptions, int_exam__file_stats and int_exam__file_totals keep the rows of the
      sheets that int_exam__sheets kept, and process the sheets it appended in this invocation
      (dbt_invocation_id).
    A full refresh builds every file. The pipeline follows a failed build with a full refresh (its build
    basis), so no sheet is left half processed. -#}
{% macro per_file_incremental(kind) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{% if is_incremental() %}{{ drop_stale_files('" ~ kind ~ "') }}{% endif %}"
    ) }}
{%- endmacro %}

{#- pre-hook: delete the rows this build replaces or that no longer apply. `kind`: progress, exam (the
    sheets) or exam_sheet (a model with rows per sheet, after int_exam__sheets). -#}
{% macro drop_stale_files(kind) -%}
    {%- if kind == 'exam_sheet' -%}
    delete from {{ this }} where file_id not in
        (select file_id from {{ ref('int_exam__sheets') }} where dbt_invocation_id <> '{{ invocation_id }}')
    {%- elif kind == 'exam' -%}
    delete from {{ this }} where file_id not in
        (select s.file_id from {{ this }} as s
         inner join {{ ref('stg_landing__files') }} as f on f.file_id = s.file_id
         inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = f.round_id
         where f.kind = 'exam' and f.is_readable and s.scoring_marks = {{ scoring_marks('rd') }})
    {%- else -%}
    delete from {{ this }} where file_id not in
        (select file_id from {{ ref('stg_landing__files') }} where kind = '{{ kind }}' and is_readable)
    {%- endif -%}
{%- endmacro %}

{#- The marks a sheet's rows are checked and counted with (full, pass and excellent marks of its round),
    as text: a sheet scored with other marks than its round's now is processed again. -#}
{% macro scoring_marks(rounds) -%}
    {%- for mark in ('exam_full_marks', 'pass_mark', 'excellent_mark') %}
    coalesce({{ rounds }}.{{ mark }}::varchar, '-'){{ " || '|' ||" if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- A predicate on `column` (a file_id) for int_progress__returns and int_exam__sheets: the readable files
    of the kind; in an incremental build those the model does not hold. -#}
{% macro new_files(kind, column='file_id') -%}
    {{ column }} in (select file_id from {{ ref('stg_landing__files') }} where kind = '{{ kind }}' and is_readable
    {%- if is_incremental() %} and file_id not in (select file_id from {{ this }}){% endif %})
{%- endmacro %}

{#- A predicate on `column` (a file_id): the exam sheets this build processes, those int_exam__sheets
    holds (every readable sheet); in an incremental build those it appended in this invocation. -#}
{% macro new_exam_sheets(column='file_id') -%}
    {{ column }} in (select file_id from {{ ref('int_exam__sheets') }}
    {%- if is_incremental() %} where dbt_invocation_id = '{{ invocation_id }}'{% endif %})
{%- endmacro %}
