{#- The progress return's value columns by type (CONTRACT.md section 1). -#}
{% macro progress_count_columns() -%}
    {{ return(["service_items_total", "service_items_online", "one_visit_items", "materials_before",
               "materials_now", "approval_days_before", "approval_days_now", "problem_clues",
               "negative_cases", "secret_inspection_groups", "inspections", "training_sessions",
               "training_attendance", "self_exams"]) }}
{%- endmacro %}

{% macro progress_bool_columns() -%}
    {{ return(["has_duty_list", "has_handbook", "has_question_bank"]) }}
{%- endmacro %}
