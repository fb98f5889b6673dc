-- dq.issues: every rejected file or row and every flagged record, one row per problem
-- (CONTRACT.md section 3). Severity comes from the checks seed, the one list of checks.
with

file_level as (
    select round_id,
        case when file_check_name = 'unreadable_file' and version is null then null else unit_code end
            as unit_code,
        kind as source, file_check_name as check_name, file_check_detail as detail, null as value,
        path as file_path, version as file_version, null::bigint as row_number, first_seen_at as detected_at
    from {{ ref('stg_landing__files') }}
    where file_check_name is not null
),

all_issues as (
    select * from file_level
    union all by name
    select * from {{ ref('int_progress__issues') }}
    union all by name
    select * from {{ ref('int_exam__issues') }}
    union all by name
    select *, null as file_path, null::integer as file_version, null::bigint as row_number, null as value
    from {{ ref('int_round__missing') }}
)

select
    i.round_id::varchar as round_id,
    i.unit_code::varchar as unit_code,
    i.source::varchar as source,
    i.check_name::varchar as check_name,
    k.severity::varchar as severity,
    i.detail::varchar as detail,
    i.file_path::varchar as file_path,
    i.detected_at::timestamptz as detected_at,
    i.file_version::integer as file_version,
    i.row_number::bigint as row_number,
    (coalesce(i.file_path, i.round_id || ' 轮')
        || coalesce(' 第 ' || i.row_number || ' 行', '') || '：' || k.label_zh || '。' || k.fix_zh)::varchar
        as detail_zh,
    i.value::varchar as value
from all_issues as i
inner join {{ ref('checks') }} as k on k.check_name = i.check_name
order by round_id, unit_code nulls first, source, file_path, row_number nulls first, check_name
