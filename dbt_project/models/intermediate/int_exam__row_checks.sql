-- Row-level checks on the rows of the exam sheet in force: one row per (row, problem).
with

sheet_rows as (
    select r.*, rd.exam_full_marks
    from {{ ref('stg_landing__exam_rows') }} as r
    inner join {{ ref('int_exam__in_force') }} as s on s.file_id = r.file_id
    inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
)

select file_id, row_number, 'missing_examinee_id' as check_name,
    'examinee_id is empty; give every examinee the id from the exam roster' as problem
from sheet_rows where examinee_id is null

union all
select file_id, row_number, 'unknown_status',
    'status "' || coalesce(status_raw, '') || '" is not recognised; write 参考 (attended) or 缺考 (absent)'
from sheet_rows where status is null

union all
select file_id, row_number, 'unknown_rank_level',
    'rank_level "' || coalesce(rank_level_raw, '') || '" is not recognised; write 厅级, 处级 or 科级'
from sheet_rows where rank_level is null

union all
select file_id, row_number, 'missing_score',
    'the examinee attended (参考) but the score is empty; enter the score, or mark the row 缺考 with a reason'
from sheet_rows where status = 'attended' and score_raw is null

union all
select file_id, row_number, 'invalid_value',
    'score "' || score_raw || '" is not a number; write the score in digits, e.g. 90 or 87.5'
from sheet_rows where status = 'attended' and score_raw is not null and score is null

union all
select file_id, row_number, 'score_out_of_range',
    'score ' || score_raw || ' is outside 0..' || exam_full_marks::decimal(10, 1)::varchar
    || ' (the round''s full marks); correct the score'
from sheet_rows where status = 'attended' and (score < 0 or score > exam_full_marks)

union all
select file_id, row_number, 'absent_without_reason',
    'the examinee is marked absent (缺考) without an absence_reason; the row is counted as absent, '
    || 'but write the reason (e.g. sick leave)'
from sheet_rows where status = 'absent' and absence_reason is null
