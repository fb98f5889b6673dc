{#- The exam row checks, in the order they are reported; exam_checked_rows (the view int_exam__file_rows) has a check_<name> column each. -#}
{% macro row_check_names() -%}
    {{ return(['missing_examinee_id', 'unknown_status', 'unknown_rank_level', 'missing_score', 'invalid_value',
               'score_out_of_range', 'absent_without_reason']) }}
{%- endmacro %}

{#- The submitted cell each row check is about (NULL: the problem is an empty cell). -#}
{% macro row_check_value(name) -%}
    {{ return({'unknown_status': 'status_raw', 'unknown_rank_level': 'rank_level_raw',
               'invalid_value': 'score_raw', 'score_out_of_range': 'score_raw'}.get(name, 'null::varchar')) }}
{%- endmacro %}
