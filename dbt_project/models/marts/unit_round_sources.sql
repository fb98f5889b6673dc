-- Lineage (数据来源): for every (round, unit, kind) the file version in force behind the unit's figures,
-- when it was submitted and loaded, its content hash, and how many versions the unit sent.
with

in_force as (
    select round_id, unit_code, 'progress' as source, file_id, path, version, submitted_at, is_late
    from {{ ref('int_progress__in_force') }}
    union all
    select round_id, unit_code, 'exam', file_id, path, version, submitted_at, is_late
    from {{ ref('int_exam__in_force') }}
),

versions as (
    select round_id, unit_code, kind as source, count(*) as versions_received
    from {{ ref('stg_landing__files') }}
    group by all
)

select
    i.round_id::varchar as round_id,
    i.unit_code::varchar as unit_code,
    u.unit_name::varchar as unit_name,
    i.source::varchar as source,
    i.path::varchar as file_path,
    i.version::integer as version,
    i.submitted_at::timestamptz as submitted_at,
    i.is_late::boolean as is_late,
    f.loaded_at::timestamptz as loaded_at,
    f.sha256::varchar as sha256,
    f.encoding::varchar as encoding,
    v.versions_received::bigint as versions_received
from in_force as i
inner join {{ ref('stg_landing__units') }} as u on u.unit_code = i.unit_code
inner join {{ ref('stg_landing__files') }} as f on f.file_id = i.file_id
left join versions as v on v.round_id = i.round_id and v.unit_code = i.unit_code and v.source = i.source
