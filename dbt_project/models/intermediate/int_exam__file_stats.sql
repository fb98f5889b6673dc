{{ per_file_incremental('exam_sheet') }}
-- Partial aggregates of each exam sheet's counted rows, by rank level, with the examinees in each of 20
-- equal score bins of the round's full marks (bin_examinees[1] is bin 0). The exam marts add these up
-- for the sheets in force instead of reading every row, so a resubmission costs one sheet. Incremental
-- per file. The counted rows are the staging rows except the exceptions that are not counted (errors,
-- extra or conflicting copies): the checks run once, in int_exam__file_exceptions.
-- score_sum is exact (a decimal), so re-runs give bit-identical averages whatever the order of addition.
-- One row per rank level, not per (rank level, bin): a national round has 300,000 rows here instead of
-- 2,500,000, a smaller aggregate to build, store and add up.
with

rows as (
    select
        r.*,
        rd.pass_mark,
        rd.excellent_mark,
        rd.exam_full_marks,
        case when r.status = 'attended' and r.score is not null
            then least(floor(r.score * 20 / rd.exam_full_marks), 19)::integer
        end as bin
    from {{ ref('stg_landing__exam_rows') }} as r
    inner join {{ ref('stg_landing__rounds') }} as rd on rd.round_id = r.round_id
    anti join (
        select file_id, row_number from {{ ref('int_exam__file_exceptions') }} where not is_counted
    ) as e on e.file_id = r.file_id and e.row_number = r.row_number
    where {{ new_exam_sheets('r.file_id') }}
)

select
    file_id,
    round_id,
    file_unit_code as unit_code,
    rank_level,
    count_if(status = 'attended')::bigint as examinees,
    count_if(status = 'absent')::bigint as absent,
    count_if(status = 'attended' and score is not null)::bigint as scored,
    {{ exact_sum("case when status = 'attended' then score end") }} as score_sum,
    count_if(status = 'attended' and score >= pass_mark)::bigint as pass_count,
    count_if(status = 'attended' and score < pass_mark)::bigint as fail_count,
    count_if(status = 'attended' and score >= excellent_mark)::bigint as excellent_count,
    count_if(status = 'attended' and score = exam_full_marks)::bigint as full_score_count,
    count_if(status = 'attended' and discipline_note is not null)::bigint as discipline_incidents,
    [{% for b in range(20) %}count_if(bin = {{ b }}){{ ", " if not loop.last }}{% endfor %}]::bigint[] as bin_examinees,
    '{{ invocation_id }}' as dbt_invocation_id
from rows
group by all
