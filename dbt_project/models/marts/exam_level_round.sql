-- One row per (round, rank level) with valid attended rows; rates pooled over examinees.
select
    s.round_id::varchar as round_id,
    s.rank_level::varchar as rank_level,
    sum(s.examinees)::bigint as examinees,
    sum(s.score_sum)::double / nullif(sum(s.scored), 0) as avg_score,
    (sum(s.pass_count)::double / sum(s.examinees)) as pass_rate,
    (sum(s.excellent_count)::double / sum(s.examinees)) as excellent_rate,
    (sum(s.full_score_count)::double / sum(s.examinees)) as full_score_rate
from {{ ref('int_exam__file_stats') }} as s
semi join {{ ref('int_exam__in_force') }} as f on f.file_id = s.file_id
group by all
having sum(s.examinees) > 0
