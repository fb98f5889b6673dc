"""SQL macros shared by ingest checks and the dbt models (one definition of each parsing rule).

They are created in the work database's `raw` schema before dbt runs, so models
call them as raw.parse_ts(...), raw.parse_number(...), raw.parse_bool(...).
"""

from __future__ import annotations

import duckdb

from .config import LOCAL_TZ

_OFFSET_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"

# What "surrounding whitespace" means for a cell: every Unicode space (the characters of Python's
# str.isspace: tab, LF, VT, FF, CR, the separators U+001C-U+001F, space, NEL, NBSP, U+1680, U+2000-U+200A,
# U+2028, U+2029, U+202F, U+205F and the ideographic space U+3000) and the invisible zero-width space and
# BOM that pasting adds. Written out, not computed at import (a scan of every code point: 0.05 s per process).
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\u200b\ufeff"
)

MACROS = f"""
-- The text without surrounding whitespace (SPACES); raw.clean: that, NULL when empty.
-- (A cell that starts and ends with a visible ASCII character, most cells, is returned as it is: trimming
-- against every Unicode space costs about 15 times more.)
create or replace macro raw.strip(x) as
  case
    when ord(left(cast(x as varchar), 1)) between 33 and 127 and ord(right(cast(x as varchar), 1)) between 33 and 127
      then cast(x as varchar)
    else trim(cast(x as varchar), '{SPACES}')
  end;
create or replace macro raw.clean(x) as nullif(raw.strip(x), '');

-- ISO 8601 timestamp; without an offset it means {LOCAL_TZ}.
create or replace macro raw.parse_ts(x) as
  case
    when raw.clean(x) is null then null
    when regexp_matches(raw.clean(x), '{_OFFSET_RE}') then try_cast(raw.clean(x) as timestamptz)
    else timezone('{LOCAL_TZ}', try_cast(raw.clean(x) as timestamp))
  end;

-- A finite number, else NULL ('12', '12.0', ' 7 ' are numbers; '九十', 'nan', '' are not).
create or replace macro raw.parse_number(x) as
  case when isfinite(try_cast(raw.clean(x) as double)) then try_cast(raw.clean(x) as double) end;

-- A count: a whole, non-negative number that fits exactly in a double.
create or replace macro raw.parse_count(x) as
  case when raw.parse_number(x) >= 0 and raw.parse_number(x) = floor(raw.parse_number(x))
            and raw.parse_number(x) < 9007199254740992
       then cast(raw.parse_number(x) as bigint) end;

create or replace macro raw.parse_bool(x) as
  case
    when lower(raw.clean(x)) in ('是', 'true', 'yes', '1') then true
    when lower(raw.clean(x)) in ('否', 'false', 'no', '0') then false
  end;
"""


def install(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(MACROS)
