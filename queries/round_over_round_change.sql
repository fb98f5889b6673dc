-- Change of each unit's exam average and online availability since its previous round (by deadline).
with units as (
    select e.round_id, r.deadline, e.unit_code, e.unit_name, e.avg_score, p.online_rate
    from marts.exam_unit_round e
    join marts.reform_round r using (round_id)
    left join marts.reform_unit_round p using (round_id, unit_code)
)
select round_id, unit_name,
       lag(round_id) over w as previous_round,
       round(avg_score - lag(avg_score) over w, 1) as avg_score_change,
       round(100 * (online_rate - lag(online_rate) over w), 1) as online_pct_change
from units
window w as (partition by unit_code order by deadline)
qualify previous_round is not null
order by round_id, avg_score_change desc, unit_name;
