select
    trim(unit_code) as unit_code,
    trim(unit_name) as unit_name
from {{ source('landing', 'units') }}
