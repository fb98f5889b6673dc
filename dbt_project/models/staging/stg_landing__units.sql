select
    raw.strip(unit_code) as unit_code,
    raw.strip(unit_name) as unit_name
from {{ source('landing', 'units') }}
