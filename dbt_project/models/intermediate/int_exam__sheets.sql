{{ per_file_incremental('exam') }}
-- One row per readable exam sheet. A sheet is a valid version when every row's unit_code
-- matches the file name. Its submission time is the latest parseable submitted_at of its rows.
-- Incremental per file (per_file_incremental): the exam models after it process the sheets it appended.
-- Reads the staging rows (the row checks are not needed here).
with

files as (
    select * from {{ ref('stg_landing__files') }}
    where {{ new_files('exam') }}
),

row_stats as (
    -- submitted_at is parsed once per distinct text of a sheet (a sheet's rows share one), not per row
    select file_id, sum(n_rows)::bigint as n_rows, max(raw.parse_ts(submitted_at_raw)) as submitted_at
    from (
        select file_id, submitted_at_raw, count(*) as n_rows
        from {{ ref('stg_landing__exam_rows') }}
        where file_id in (select file_id from files)
        group by file_id, submitted_at_raw
    )
    group by file_id
),

mismatches as (
    select
        file_id,
        list(row_number order by row_number) as mismatched_rows,
        list(distinct coalesce(unit_code, '(empty)')) as mismatched_codes
    from {{ ref('stg_landing__exam_rows') }}
    where file_id in (select file_id from files) and unit_code is distinct from file_unit_code
    group by file_id
)

select
    f.file_id,
    f.path,
    f.round_id,
    f.unit_code,
    f.version,
    f.first_seen_at,
    coalesce(s.n_rows, 0) as n_rows,
    s.submitted_at,
    coalesce(m.mismatched_rows, []) as mismatched_rows,
    coalesce(m.mismatched_codes, []) as mismatched_codes,
    m.file_id is null as is_valid,
    {{ scoring_marks('rd') }} as scoring_marks,
    '{{ invocation_id }}' as dbt_invocation_id
from files as f
left join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = f.round_id
left join row_stats as s on s.file_id = f.file_id
left join mismatches as m on m.file_id = f.file_id
