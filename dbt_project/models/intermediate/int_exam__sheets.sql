{{ per_file_incremental('exam') }}
-- One row per readable exam sheet. A sheet is a valid version when every row's unit_code
-- matches the file name. Its submission time is the latest parseable submitted_at of its rows.
-- Incremental per file; reads the staging rows (the row checks are not needed here).
with

files as (
    select * from {{ ref('stg_landing__files') }}
    where {{ new_file_filter('exam') }}
),

row_stats as (
    select
        file_id,
        count(*) as n_rows,
        max(submitted_at) as submitted_at,
        list(row_number order by row_number) filter (where unit_code is distinct from file_unit_code)
            as mismatched_rows,
        list(distinct coalesce(unit_code, '(empty)')) filter (where unit_code is distinct from file_unit_code)
            as mismatched_codes
    from {{ ref('stg_landing__exam_rows') }}
    where file_id in (select file_id from files)
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
    coalesce(s.mismatched_rows, []) as mismatched_rows,
    coalesce(s.mismatched_codes, []) as mismatched_codes,
    len(coalesce(s.mismatched_rows, [])) = 0 as is_valid
from files as f
left join row_stats as s on s.file_id = f.file_id
