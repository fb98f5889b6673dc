"""Decoding landed bytes, without DuckDB or dbt."""

from __future__ import annotations

import pytest
from landing_builder import exam_rows, xlsx_bytes

from reformwatch.contract import EXAM_COLUMNS, parse_file_name
from reformwatch.decode import DecodeError, decode_bytes, split_header

TEXT = "unit_code,unit_name\nPOLICE,省公安厅\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_decode_to_the_same_text(encoding):
    d = decode_bytes(TEXT.encode(encoding), "csv")
    assert d.text == TEXT and d.encoding == encoding


def test_crlf_and_mid_file_bom_are_normalised():
    d = decode_bytes(("unit_code\r\nA\r\n" + "\ufeffB\r\n").encode("utf-8"), "csv")
    assert d.text == "unit_code\nA\nB\n"


@pytest.mark.parametrize("data", [b"", b"   \n", b"\x00\x01\x02\x03", bytes([0x81, 0x30, 0xFF, 0xFF])])
def test_undecodable_bytes_raise_a_clerk_message(data):
    with pytest.raises(DecodeError) as e:
        decode_bytes(data, "csv")
    assert "CSV" in str(e.value) or "template" in str(e.value)


def test_xlsx_first_sheet_becomes_csv():
    rows = exam_rows("AAA", scores=[90.0, 85.5])
    d = decode_bytes(xlsx_bytes(EXAM_COLUMNS, rows), "xlsx")
    header, body = split_header(d.text)
    assert header == list(EXAM_COLUMNS)
    assert body.splitlines()[0].split(",")[5] == "90" and body.splitlines()[1].split(",")[5] == "85.5"


def test_broken_xlsx_raises():
    with pytest.raises(DecodeError):
        decode_bytes(b"PK\x03\x04 not really a zip", "xlsx")


NAMES = [
    ("POLICE.csv", ("POLICE", 1, "csv")),
    ("LJBANK.xlsx", ("LJBANK", 1, "xlsx")),
    ("HOUSING__v2.csv", ("HOUSING", 2, "csv")),
    ("A_B__v13.xlsx", ("A_B", 13, "xlsx")),
    ("police.csv", None),
    ("AIC.CSV", None),
    ("AIC.csv.bak", None),
    ("AI C.csv", None),
    ("省公安厅.csv", None),
    ("AIC__v0.csv", None),
    ("AIC__v007.csv", ("AIC", 7, "csv")),
    (f"AIC__v{2**31 - 1}.csv", ("AIC", 2**31 - 1, "csv")),
    (f"AIC__v{2**31}.csv", None),
    ("AIC.csv\n", None),
    ("../AIC.csv", None),
    ("X" * 33 + ".csv", None),
]


@pytest.mark.parametrize(("name", "parsed"), NAMES)
def test_file_name_rule(name, parsed):
    assert parse_file_name(name) == parsed


def test_spaces_are_every_unicode_space_and_raw_strip_trims_them():
    """SPACES is written out: it must hold every character Python calls a space (a new Unicode version may
    add one), and raw.strip trims them on both sides, leaving the inside alone."""
    import duckdb

    from reformwatch import sql_functions

    assert {chr(c) for c in range(0x110000) if chr(c).isspace()} | {"\u200b", "\ufeff"} == set(sql_functions.SPACES)
    con = duckdb.connect()
    sql_functions.install(con)
    values = ["\t90 ", "\u3000甲厅\u00a0", "a b", "b", "", "\u200b\ufeffAAA\u2003", None]
    got = [con.execute("select raw.strip(?), raw.clean(?)", [v, v]).fetchone() for v in values]
    assert got == [("90", "90"), ("甲厅", "甲厅"), ("a b", "a b"), ("b", "b"), ("", None), ("AAA", "AAA"), (None, None)]
