"""Turn a landed file's bytes into UTF-8 CSV text, whatever its encoding or format."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"


class DecodeError(Exception):
    """The file cannot be turned into text; the message is for a unit's clerk."""


@dataclass(frozen=True)
class Decoded:
    text: str  # CSV text, '\n' line ends, header first
    encoding: str  # utf-8, utf-8-sig, gb18030 or xlsx


def decode_csv_bytes(data: bytes) -> Decoded:
    """Decode CSV bytes: UTF-8 (with or without BOM) first, then GB18030."""
    if not data.strip():
        raise DecodeError("the file is empty; send the filled-in template with its header row")
    encoding = "utf-8"
    if data.startswith(UTF8_BOM):
        data, encoding = data[len(UTF8_BOM) :], "utf-8-sig"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
            encoding = "gb18030"
        except UnicodeDecodeError as e:
            raise DecodeError(
                f"the file is not readable text (byte {e.start} is neither UTF-8 nor GB18030); "
                "save it again as 'CSV UTF-8' or as an .xlsx workbook"
            ) from None
    if "\x00" in text:
        raise DecodeError("the file contains binary data (NUL bytes); save it again as 'CSV UTF-8' or as .xlsx")
    if "\ufeff" in text:  # a BOM in the middle: files pasted together
        text = text.replace("\ufeff", "")
    return Decoded(normalise_newlines(text), encoding)


def normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _cell_text(value: object) -> str:
    kind = type(value)
    if kind is str:  # most cells: checked first (2.5M cells at national scale)
        return value  # type: ignore[return-value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


def decode_xlsx_bytes(data: bytes) -> Decoded:
    """Read the first worksheet of an XLSX workbook into CSV text (header in row 1)."""
    from python_calamine import CalamineWorkbook  # lazy: only XLSX submissions need it

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise DecodeError("the workbook has no worksheet; put the data on the first sheet")
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except DecodeError:
        raise
    except Exception as e:  # calamine raises its own error types for broken archives
        raise DecodeError(
            f"the workbook cannot be opened ({type(e).__name__}: {str(e)[:120]}); "
            "save it again from Excel/WPS as .xlsx, or send a CSV"
        ) from None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    width = 0  # the header row's cells: a row whose last cells are empty is as wide as the header
    for row in rows:
        cells = [_cell_text(v) for v in row]
        while cells and cells[-1] == "":
            cells.pop()
        width = width or len(cells)
        writer.writerow(cells + [""] * (width - len(cells)))
    text = out.getvalue()
    if not text.strip():
        raise DecodeError("the first worksheet is empty; put the header in row 1 and the data below it")
    return Decoded(text, "xlsx")


def decode_bytes(data: bytes, ext: str) -> Decoded:
    return decode_xlsx_bytes(data) if ext == "xlsx" else decode_csv_bytes(data)


MAX_CELL_CHARS = 32_768  # a longer cell is no answer to the template: the file is rejected


def _csv_reason(error: csv.Error) -> str:
    reason = str(error)
    if "unexpected end of data" in reason:
        return 'a quoted cell is never closed (a " without its closing ")'
    if "field larger than field limit" in reason:
        return f"a cell has more than the {MAX_CELL_CHARS} characters allowed (put only the value asked for in a cell)"
    if "expected after" in reason:
        return 'a quoted cell goes on after its closing " (write "" for a " inside a quoted cell)'
    return reason


def read_table(text: str, columns: tuple[str, ...], required: tuple[str, ...]) -> list[list[str | None]]:
    """The data rows of CSV `text` (header first), each as the values of `columns` in that order (None for
    an optional column the header lacks). Header names match after trimming, case-insensitively, in any order;
    other columns are ignored; blank rows (empty, or only blank cells) are left out.

    Raises DecodeError, for the sender, when the header lacks a required column or names one twice, a row
    has more or fewer cells than the header, a quote is not closed or a cell is over MAX_CELL_CHARS."""
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = [n.strip().lower() for n in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise DecodeError(
                f"the header row lacks the column(s) {', '.join(missing)}; the first row must be the "
                f"template's header row: {','.join(columns)}"
            )
        twice = sorted({c for c in header if c in columns and header.count(c) > 1})
        if twice:
            raise DecodeError(
                f"the header row names the column(s) {', '.join(twice)} more than once; keep one of each: "
                f"{','.join(columns)}"
            )
        where = [header.index(c) if c in header else None for c in columns]
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DecodeError(
                    f"the file is not a well-formed CSV table: line {reader.line_num} has {len(cells)} cells, "
                    f"the header row {len(header)}; every row "
                    "must have one cell per column of the header (a comma inside a value needs quotes): "
                    "save it again from the template"
                )
            long = next((i for i, c in enumerate(cells) if len(c) > MAX_CELL_CHARS), None)
            if long is not None:
                raise DecodeError(
                    f"line {reader.line_num}, column {header[long] or long + 1}: a cell has more than the "
                    f"{MAX_CELL_CHARS} characters allowed ({len(cells[long])}); put only the value asked for in a cell"
                )
            rows.append([None if i is None else cells[i] for i in where])
    except csv.Error as e:
        raise DecodeError(
            f"the file is not a well-formed CSV table: line {reader.line_num}: {_csv_reason(e)}; "
            "save it again from the template"
        ) from None
    return rows


def split_header(text: str) -> tuple[list[str], str]:
    """Return (normalised header names, body text after the header line)."""
    text = text.lstrip("\n")
    head, _, body = text.partition("\n")
    names = head.split(",") if '"' not in head else next(csv.reader([head]), [])
    return [n.strip().lower() for n in names], body
