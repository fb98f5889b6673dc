-- The version in force per (round, unit): the highest valid progress version.
select
    r.*,
    r.submitted_at > rd.deadline as is_late,
    rd.deadline
from {{ ref('int_progress__returns') }} as r
inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
where r.is_valid
qualify row_number() over (partition by r.round_id, r.unit_code order by r.version desc) = 1
