-- Exam rows of the sheets in the landing zone: trimmed text, canonical rank level and status.
select
    f.file_id,
    f.path,
    f.round_id,
    f.unit_code as file_unit_code,
    f.version,
    f.first_seen_at,
    r.row_number,
    raw.clean(r.unit_code) as unit_code,
    raw.clean(r.examinee_id) as examinee_id,
    raw.clean(r.rank_level) as rank_level_raw,
    case
        when lower(raw.clean(r.rank_level)) in ('厅级', '厅局级', 'bureau') then '厅级'
        when lower(raw.clean(r.rank_level)) in ('处级', '县处级', 'division') then '处级'
        when lower(raw.clean(r.rank_level)) in ('科级', '乡科级', 'section') then '科级'
    end as rank_level,
    raw.clean(r.status) as status_raw,
    case
        when lower(raw.clean(r.status)) in ('参考', 'attended') then 'attended'
        when lower(raw.clean(r.status)) in ('缺考', 'absent') then 'absent'
    end as status,
    raw.clean(r.absence_reason) as absence_reason,
    raw.clean(r.score) as score_raw,
    raw.parse_number(r.score) as score,
    raw.clean(r.discipline_note) as discipline_note,
    raw.clean(r.submitted_at) as submitted_at_raw,
    raw.parse_ts(r.submitted_at) as submitted_at,
    concat_ws(chr(31), {% for c in ["unit_code", "examinee_id", "rank_level", "status", "absence_reason",
        "score", "discipline_note", "submitted_at"] %}coalesce(raw.strip(r.{{ c }}), ''){{ ", " if not loop.last }}{% endfor %})
        as row_signature
from {{ ref('stg_landing__files') }} as f
inner join {{ source('landing', 'exam_rows') }} as r on r.file_id = f.file_id
where f.kind = 'exam' and f.is_readable
