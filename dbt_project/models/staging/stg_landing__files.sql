-- One row per file currently in the landing zone, with the first file-level problem found.
select
    lf.path,
    lf.round_id,
    lf.kind,
    lf.unit_code,
    lf.version,
    lf.ext,
    lf.size,
    lf.file_id,
    f.sha256,
    f.encoding,
    f.parse_path,
    f.loaded_at,
    f.n_rows,
    lf.first_seen_at,
    case
        when lf.check_name is not null then lf.check_name
        when f.read_error is not null then 'unreadable_file'
    end as file_check_name,
    coalesce(lf.detail, f.read_error) as file_check_detail,
    lf.check_name is null and f.read_error is null as is_readable
from {{ source('landing', 'landing_files') }} as lf
left join {{ source('landing', 'files') }} as f on f.file_id = lf.file_id
