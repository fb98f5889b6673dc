{{ config(materialized='view') }}
-- Every row of every readable exam sheet, checked and de-duplicated within its own file (the logic is
-- the macro exam_checked_rows). A view: storing 10M rows cost as much as computing them, and the models
-- that need the rows read them where they need them: int_exam__file_exceptions (the problem rows,
-- incremental per file), int_exam__file_stats and int_exam__sheets (from staging).
{{ exam_checked_rows(new_exam_sheets()) }}{#- a view is never incremental: every readable sheet #}
