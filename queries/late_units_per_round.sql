-- Late submissions (逾期报送) per round: which unit, which kind of file, submitted when.
select i.round_id, coalesce(s.unit_name, i.unit_code) as unit_name, i.source, s.file_path,
       strftime(timezone('Asia/Shanghai', s.submitted_at), '%Y-%m-%d %H:%M') as submitted_shanghai
from dq.issues i
left join marts.unit_round_sources s using (round_id, unit_code, source)
where i.check_name = 'late_submission'
order by i.round_id, unit_name, i.source;
