select
    raw.strip(round_id) as round_id,
    raw.strip(title) as title,
    raw.parse_ts(deadline) as deadline,
    raw.parse_count(exam_questions) as exam_questions,
    raw.parse_number(exam_full_marks) as exam_full_marks,
    raw.parse_count(exam_minutes) as exam_minutes,
    raw.parse_number(pass_mark) as pass_mark,
    raw.parse_number(excellent_mark) as excellent_mark
from {{ source('landing', 'rounds') }}
