"""The bulk stream a preparing worker writes: the common file's byte path and the row filter."""

from __future__ import annotations

from reformwatch.contract import EXAM_COLUMNS
from reformwatch.file_prep import _StreamWriter, prepare_chunk

HEADER = ",".join(EXAM_COLUMNS)
ROWS = ["AAA,E1,厅级,参考,,90,,2018-09-14T10:00:00+08:00", "AAA,E2,处级,缺考,病假,,,2018-09-14T10:00:00+08:00"]


def _stream(tmp_path, body: bytes) -> bytes:
    writer = _StreamWriter(str(tmp_path / "stream.csv"))
    writer.add(7, body)
    writer.write()
    return (tmp_path / "stream.csv").read_bytes()


def test_blank_and_comma_only_lines_are_not_rows(tmp_path):
    """Empty lines, lines of spaces and tabs, and lines of spaces and commas are left out and not
    numbered; a line starting with a control byte, which sorts before them all, is a row."""
    body = b"\x0bX,1\n \t\n , ,\n\nY,2\n\tZ,3\n,W\n"
    assert _stream(tmp_path, body) == b"7,1,\x0bX,1\n7,2,Y,2\n7,3,\tZ,3\n7,4,,W\n"


def test_a_comma_only_line_after_a_line_starting_with_a_control_byte(tmp_path):
    """Without an empty line the smallest line is the control byte's: the comma-only line is still found."""
    assert _stream(tmp_path, b"\x0bX,1\n ,\nY,2") == b"7,1,\x0bX,1\n7,2,Y,2\n"


def test_the_common_file_and_its_re_encoded_twins_give_the_same_stream(tmp_path):
    """A plain UTF-8 file takes the byte path; the same sheet with a BOM, CRLF line ends, GB18030 or
    blank lines is decoded first. All go into the bulk stream with the same lines."""
    text = HEADER + "\n" + "\n".join(ROWS) + "\n"
    variants = {
        "plain.csv": text.encode(),
        "bom.csv": b"\xef\xbb\xbf" + text.encode(),
        "crlf.csv": text.replace("\n", "\r\n").encode(),
        "gbk.csv": text.encode("gb18030"),
        "blank.csv": (HEADER + "\n\n" + ROWS[0] + "\n  \n" + ROWS[1] + "\n\n").encode(),
    }
    root = tmp_path / "landing"
    root.mkdir()
    for name, data in variants.items():
        (root / name).write_bytes(data)
    chunk = prepare_chunk(str(root), [(name, "exam", "csv") for name in variants], set(), str(tmp_path), "c")
    assert [f.parse_path for f in chunk.files] == ["bulk"] * len(variants)
    assert [f.encoding for f in chunk.files] == ["utf-8", "utf-8-sig", "utf-8", "gb18030", "utf-8"]
    lines = (tmp_path / "c_exam.csv").read_bytes().decode().splitlines()
    expected = [f"{n},{i},{row}" for n in range(len(variants)) for i, row in enumerate(ROWS, 1)]
    assert lines == expected
