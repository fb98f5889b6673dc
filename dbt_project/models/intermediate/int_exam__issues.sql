-- Exam checks: unit_code_mismatch on every version; row, duplicate, size and lateness checks on
-- the sheet in force.
with

sheets as (select * from {{ ref('int_exam__sheets') }}),

in_force as (select * from {{ ref('int_exam__in_force') }}),

copies as (  -- duplicate or conflicting copies among the error-free rows of the sheet in force
    select r.*
    from {{ ref('int_exam__file_exceptions') }} as r
    semi join in_force as s on s.file_id = r.file_id
    where not r.has_error and r.copy_status != 'unique'
),

issues as (
    select file_id, 'unit_code_mismatch' as check_name, null::bigint as row_number,
        path || ': row(s) ' || array_to_string(mismatched_rows[1:10], ', ')
        || case when len(mismatched_rows) > 10 then ' and ' || (len(mismatched_rows) - 10) || ' more' else '' end
        || ' have unit_code ' || array_to_string(mismatched_codes[1:5], ', ')
        || ' but the file is named for ' || unit_code
        || '; a sheet holds one unit''s examinees only: fix those rows (or move them to their unit''s sheet) '
        || 'and send the sheet again as ' || unit_code || '__v' || (version + 1) || '.csv. This version is not used'
        as detail,
        array_to_string(mismatched_codes[1:5], ', ') as value
    from sheets where not is_valid

    union all
    select c.file_id, c.check_name, c.row_number,
        c.path || ', row ' || c.row_number || ' (examinee ' || coalesce(c.examinee_id, 'without id') || '): '
        || c.problem
        || case when k.severity = 'error' then '. The row is left out of the results' else '' end,
        c.value
    from {{ ref('int_exam__row_checks') }} as c
    inner join {{ ref('checks') }} as k on k.check_name = c.check_name

    union all
    select file_id,
        case when any_value(copy_status) = 'duplicate' then 'duplicate_examinee_row'
             else 'conflicting_examinee_rows' end,
        min(row_number),
        any_value(path) || ', rows ' || string_agg(row_number::varchar, ', ' order by row_number)
        || ': examinee ' || examinee_id || ' appears ' || count(*) || ' times'
        || case when any_value(copy_status) = 'duplicate'
            then ' on identical rows; one is counted: delete the extra copies'
            else ' with different contents; none is counted until the sheet keeps one correct row for the examinee'
        end,
        examinee_id
    from copies
    group by file_id, examinee_id

    union all
    select s.file_id, 'below_min_examinees', null,
        s.path || ': ' || coalesce(n.n_counted, 0) || ' examinee(s) listed (attended or absent), fewer than the '
        || sc.min_examinees || ' the round requires for this unit; add the missing cadres to the sheet',
        coalesce(n.n_counted, 0) || ' < ' || sc.min_examinees
    from in_force as s
    inner join {{ ref('stg_landing__scope') }} as sc on sc.round_id = s.round_id and sc.unit_code = s.unit_code
    left join (select file_id, examinees + absent as n_counted from {{ ref('int_exam__file_totals') }}) as n
        on n.file_id = s.file_id
    where coalesce(n.n_counted, 0) < sc.min_examinees

    union all
    select s.file_id, 'participation_over_headcount', null,
        s.round_id || '/scope.csv, unit ' || s.unit_code || ': cadre_headcount is ' || sc.cadre_headcount
        || ', but ' || n.examinees || ' of its cadres sat the exam (' || s.path || '); the figures are counted, '
        || 'the round''s participation rate is left empty while the round''s examinees exceed its headcount: '
        || 'the office corrects cadre_headcount (the unit''s total number of cadres) in scope.csv',
        n.examinees || ' > ' || sc.cadre_headcount
    from in_force as s
    inner join {{ ref('stg_landing__scope') }} as sc on sc.round_id = s.round_id and sc.unit_code = s.unit_code
    inner join {{ ref('int_exam__file_totals') }} as n on n.file_id = s.file_id
    where n.examinees > sc.cadre_headcount

    union all
    select file_id, 'late_submission', null,
        {{ late_detail('path', 'submitted_at', 'deadline') }},
        {{ late_value('submitted_at') }}
    from in_force where is_late
)

select
    s.round_id,
    s.unit_code,
    'exam' as source,
    i.check_name,
    i.detail,
    i.value,
    s.path as file_path,
    s.version as file_version,
    i.row_number,
    s.first_seen_at as detected_at
from issues as i
inner join sheets as s on s.file_id = i.file_id
