-- Units in scope without a usable progress return / exam result, once the deadline has passed.
with

rounds as (
    select * from {{ ref('stg_landing__rounds') }}
    where deadline < {{ as_of() }}
),

scope as (
    select sc.round_id, sc.unit_code, rd.deadline
    from {{ ref('stg_landing__scope') }} as sc
    inner join rounds as rd on rd.round_id = sc.round_id
),

attended as (  -- sheets in force with a counted attended examinee (per-sheet totals, not 10M rows)
    select distinct t.round_id, t.unit_code
    from {{ ref('int_exam__file_totals') }} as t
    semi join {{ ref('int_exam__in_force') }} as f on f.file_id = t.file_id
    where t.examinees > 0
)

select sc.round_id, sc.unit_code, 'progress' as source, 'missing_submission' as check_name,
    'no valid progress return from this unit for round ' || sc.round_id || ' (deadline '
    || strftime(timezone('Asia/Shanghai', sc.deadline), '%Y-%m-%d %H:%M') || ' Asia/Shanghai); '
    || 'send ' || sc.round_id || '/progress/' || sc.unit_code || '.csv, or correct the rejected one '
    || '(see its own issue)' as detail,
    sc.deadline as detected_at
from scope as sc
anti join {{ ref('int_progress__in_force') }} as p on p.round_id = sc.round_id and p.unit_code = sc.unit_code

union all
select sc.round_id, sc.unit_code, 'exam', 'missing_exam_results',
    'no valid exam result of an attended examinee from this unit for round ' || sc.round_id || ' (deadline '
    || strftime(timezone('Asia/Shanghai', sc.deadline), '%Y-%m-%d %H:%M') || ' Asia/Shanghai); '
    || 'send the score sheet ' || sc.round_id || '/exam/' || sc.unit_code || '.csv, or correct the rejected one',
    sc.deadline
from scope as sc
anti join attended as a on a.round_id = sc.round_id and a.unit_code = sc.unit_code
