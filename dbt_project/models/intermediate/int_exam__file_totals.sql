{{ per_file_incremental('exam_sheet') }}
-- Each exam sheet's counted rows added up over rank levels and score bins (int_exam__file_stats):
-- exam_unit_round reads one row per sheet in force instead of grouping every (sheet, rank level, bin),
-- and exam_round adds up one score sum per sheet. Incremental per file like int_exam__file_stats.
select
    file_id,
    round_id,
    unit_code,
    sum(examinees)::bigint as examinees,
    sum(absent)::bigint as absent,
    sum(scored)::bigint as scored,
    sum(score_sum) as score_sum,
    sum(pass_count)::bigint as pass_count,
    sum(fail_count)::bigint as fail_count,
    sum(excellent_count)::bigint as excellent_count,
    sum(full_score_count)::bigint as full_score_count,
    sum(discipline_incidents)::bigint as discipline_incidents
from {{ ref('int_exam__file_stats') }}
where {{ new_exam_sheets() }}
group by file_id, round_id, unit_code
