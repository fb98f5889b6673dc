-- Ranking of units by exam average in the latest round (名次), with pass and excellent rates.
select rank_in_round, unit_name, examinees, round(avg_score, 1) as avg_score,
       round(100 * pass_rate, 1) as pass_pct, round(100 * excellent_rate, 1) as excellent_pct
from marts.exam_unit_round
where round_id = (select round_id from marts.reform_round order by deadline desc limit 1)
order by rank_in_round, unit_name;
