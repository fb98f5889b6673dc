-- Where does a unit's figure come from? File, version and submission time behind 省人社厅's
-- "最多跑一次" items (change the unit name to ask about another unit).
select p.round_id, p.unit_name, p.one_visit_items, s.file_path, s.version, s.submitted_at, s.loaded_at, s.sha256
from marts.reform_unit_round p
join marts.unit_round_sources s on s.round_id = p.round_id and s.unit_code = p.unit_code and s.source = 'progress'
where p.unit_name = '省人社厅'
order by p.round_id;
