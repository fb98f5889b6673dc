-- Units whose online availability (网上可办率) is below 50%, per round, lowest first.
select round_id, unit_name, round(100 * online_rate, 1) as online_pct
from marts.reform_unit_round
where online_rate < 0.5
order by round_id, online_rate, unit_name;
