{#- Every row of the exam sheets that `file_filter` (a predicate on file_id) keeps, checked and
    de-duplicated within its own file: one check_<name> column per row check (the problem, or NULL),
    has_error (an error-severity problem: not counted), the copies of an examinee's row (n_copies,
    n_versions, copy_number), copy_status and is_counted. Used by the view int_exam__file_rows (every
    readable sheet) and by int_exam__file_exceptions, which stores the rows that matter for issues and
    absences of the sheets it has not seen: the filter sits next to the scan of the rows, so a
    resubmission reads one sheet. Everything here depends on one file only. -#}
{% macro exam_checked_rows(file_filter) -%}
with

error_checks as (
    select list(check_name) as names from {{ ref('checks') }} where severity = 'error'
),

checked as not materialized (
    select
        r.*,
        case when r.examinee_id is null
            then 'examinee_id is empty; give every examinee the id from the exam roster'
        end as check_missing_examinee_id,
        case when r.status is null
            then 'status "' || coalesce(r.status_raw, '') || '" is not recognised; write 参考 (attended) or 缺考 (absent)'
        end as check_unknown_status,
        case when r.rank_level is null
            then 'rank_level "' || coalesce(r.rank_level_raw, '') || '" is not recognised; write 厅级, 处级 or 科级'
        end as check_unknown_rank_level,
        case when r.status = 'attended' and r.score_raw is null
            then 'the examinee attended (参考) but the score is empty; enter the score, or mark the row 缺考 with a reason'
        end as check_missing_score,
        case when r.status = 'attended' and r.score_raw is not null and r.score is null
            then 'score "' || r.score_raw || '" is not a number; write the score in digits, e.g. 90 or 87.5'
        end as check_invalid_value,
        case when r.status = 'attended' and (r.score < 0 or r.score > rd.exam_full_marks)
            then 'score ' || r.score_raw || ' is outside 0..' || rd.exam_full_marks::decimal(10, 1)::varchar
                || ' (the round''s full marks); correct the score'
        end as check_score_out_of_range,
        case when r.status = 'absent' and r.absence_reason is null
            then 'the examinee is marked absent (缺考) without an absence_reason; the row is counted as absent, '
                || 'but write the reason (e.g. sick leave)'
        end as check_absent_without_reason
    from {{ ref('stg_landing__exam_rows') }} as r
    inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
    where {{ file_filter }}
),

flagged as not materialized (
    select
        c.*,
        list_has_any(e.names, list_filter([
            {%- for name in row_check_names() %}
            case when c.check_{{ name }} is not null then '{{ name }}' end{{ "," if not loop.last }}
            {%- endfor %}
        ], lambda x: x is not null)) as has_error
    from checked as c
    cross join error_checks as e
),

files_with_copies as (
    -- Sheets where an examinee id occurs more than once (a superset of those with copies among rows of
    -- the same has_error): the only ones that need the copy windows below (a few hundred of 100,000
    -- sheets in a national round; the windows over every row cost seconds).
    select file_id
    from flagged
    group by file_id
    having count(*) > count(distinct examinee_id)
),

copies as (
    select
        file_id,
        row_number,
        count(*) over same_examinee as n_copies,
        count(distinct row_signature) over same_examinee as n_versions,
        row_number() over (same_examinee order by row_number) as copy_number
    from flagged
    where file_id in (select file_id from files_with_copies)
    window same_examinee as (partition by file_id, has_error, examinee_id)
),

-- Every other row is the only copy of its examinee. flagged is streamed once (not materialized with
-- every column: at 10M rows that spilled to disk); the few rows of copies are joined to it.
counted as (
    select
        f.* exclude (row_signature),
        coalesce(c.n_copies, 1) as n_copies,
        coalesce(c.n_versions, 1) as n_versions,
        coalesce(c.copy_number, 1) as copy_number
    from flagged as f
    left join copies as c on c.file_id = f.file_id and c.row_number = f.row_number
)

select
    *,
    case
        when has_error then 'error'
        when n_copies = 1 then 'unique'
        when n_versions = 1 then 'duplicate'
        else 'conflicting'
    end as copy_status,
    not has_error and n_versions = 1 and copy_number = 1 as is_counted
from counted
{%- endmacro %}
