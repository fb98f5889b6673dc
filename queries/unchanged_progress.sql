-- Units whose reported progress figures did not change at all since their previous round.
with figures as (
    select p.round_id, r.deadline, p.unit_code, p.unit_name,
           (p.service_items_total, p.service_items_online, p.one_visit_items, p.materials_before,
            p.materials_now, p.approval_days_before, p.approval_days_now, p.problem_clues, p.negative_cases,
            p.secret_inspection_groups, p.inspections, p.training_sessions, p.training_attendance,
            p.has_duty_list, p.has_handbook, p.has_question_bank, p.self_exams) as reported
    from marts.reform_unit_round p
    join marts.reform_round r using (round_id)
)
select round_id, unit_name, lag(round_id) over w as previous_round
from figures
window w as (partition by unit_code order by deadline)
qualify reported = lag(reported) over w
order by round_id, unit_name;
