select
    round_id,
    raw.strip(unit_code) as unit_code,
    raw.parse_count(cadre_headcount) as cadre_headcount,
    raw.parse_count(min_examinees) as min_examinees
from {{ source('landing', 'scope') }}
