-- The exam sheet in force per (round, unit): the highest valid version.
select
    s.*,
    s.submitted_at > rd.deadline as is_late,
    rd.deadline
from {{ ref('int_exam__sheets') }} as s
inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = s.round_id
where s.is_valid
qualify row_number() over (partition by s.round_id, s.unit_code order by s.version desc) = 1
