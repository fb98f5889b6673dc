"""Prepare a chunk of landed files for DuckDB: read, hash, decode, classify, write the bulk streams.

Pure Python (no DuckDB), so a chunk can be prepared in a worker process (prep_worker) while DuckDB
parses the chunk before it. A file whose text is a CSV with the template's header and no quotes goes
into its kind's bulk stream: its body lines, each prefixed with the file's number among the chunk's new
files and the row's number in its file, for one DuckDB parse of the whole stream straight into the raw
table. Other files keep their text for a per-file parse.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from dataclasses import dataclass, field

from .contract import ALL_COLUMNS, REQUIRED_COLUMNS
from .decode import MAX_CELL_CHARS, DecodeError, decode_bytes, read_table, split_header

_ROW_NUMBERS = [b"%d," % i for i in range(1, 10_001)]  # the bulk stream's row number cells (files up to 10,000 rows)
_TEMPLATE_HEADERS = {kind: (",".join(columns) + "\n").encode() for kind, columns in ALL_COLUMNS.items()}


@dataclass(slots=True)
class PreparedFile:
    """What ingest needs of one file: its digest and how to parse it (bulk, per_file) or why it cannot be."""

    sha256: str
    known: bool = False  # same path and content as an earlier load: not loaded again
    gone: bool = False  # removed since the landing zone was scanned: not part of this run
    unopenable: str | None = None  # why the file could not be opened (an unreadable_file issue's detail)
    encoding: str | None = None
    parse_path: str | None = None  # bulk | per_file; None when read_error says why it cannot be read
    read_error: str | None = None
    rows: list[list[str | None]] | None = None  # per_file: the data rows, in the contract's column order
    number: int = -1  # among the chunk's new (not known) files, from 0; the bulk stream's line prefix


@dataclass(slots=True)
class BulkStream:
    """One kind's bulk-eligible files of a chunk, as one headerless CSV file; each line starts with the
    file's number and the row's number in the file (from 1; rows of empty cells are left out, as ingest
    leaves them out of a file it parses alone). `starts[i]` is the first line (from 1) of `numbers[i]`,
    `offsets[i]` its first byte."""

    path: str
    numbers: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def text(self, number: int, kind: str) -> str:
        """File `number` as CSV text with the template's header, read back from the stream (for the rare
        file the bulk parse rejects)."""
        return ",".join(ALL_COLUMNS[kind]) + "\n" + self.body(number)

    def body(self, number: int) -> str:
        """The body (lines after the header) of file `number`, read back from the stream (for the rare
        file the bulk parse rejects)."""
        i = self.numbers.index(number)
        with open(self.path, "rb") as f:
            f.seek(self.offsets[i])
            end = self.offsets[i + 1] if i + 1 < len(self.offsets) else None
            data = f.read() if end is None else f.read(end - self.offsets[i])
        lines = data.decode().rstrip("\n").split("\n")
        return "\n".join(line.split(",", 2)[-1] for line in lines)  # without the two numbers


@dataclass(slots=True)
class PreparedChunk:
    files: list[PreparedFile]  # in the order of the request
    streams: dict[str, BulkStream]  # kind -> its bulk stream (kinds with bulk files only)


def _short_lines(data: bytes) -> bool:
    """No line longer than a cell may be (so no cell is): the bulk parse never meets an over-long cell."""
    return len(data) <= MAX_CELL_CHARS or max(map(len, data.split(b"\n"))) <= MAX_CELL_CHARS


def _plain_body(data: bytes, kind: str) -> bytes | None:
    """The body of the common file, which needs no decoding work: the template's header line exactly,
    then UTF-8 without quotes, CR, NUL or byte order marks, and no over-long line. None for any other file
    (classify decides)."""
    header = _TEMPLATE_HEADERS[kind]
    if not data.startswith(header) or b'"' in data or b"\r" in data or b"\x00" in data or b"\xef\xbb\xbf" in data:
        return None
    if not _short_lines(data):
        return None
    try:
        data.decode()  # only to know it is UTF-8
    except UnicodeDecodeError:
        return None
    return data[len(header) :]


def classify(
    path: str, kind: str, ext: str | None, data: bytes, sha256: str, bulk: bool = True
) -> tuple[PreparedFile, bytes]:
    """Decode and check the columns of a new file; decide bulk or per-file parsing.

    Returns the file and, for a bulk file, its body as UTF-8 (the lines after the header)."""
    out = PreparedFile(sha256)
    if bulk and ext == "csv" and (plain := _plain_body(data, kind)) is not None:  # most files: no str round trip
        out.encoding, out.parse_path = "utf-8", "bulk"
        return out, plain
    try:
        decoded = decode_bytes(data, ext or "csv")
        out.encoding = decoded.encoding
        header, body = split_header(decoded.text)
        if bulk and tuple(header) == ALL_COLUMNS[kind] and '"' not in body:
            plain = body.encode()
            if _short_lines(plain):
                out.parse_path = "bulk"
                return out, plain
        out.rows = read_table(decoded.text, ALL_COLUMNS[kind], REQUIRED_COLUMNS[kind])
        out.parse_path = "per_file"
    except DecodeError as e:
        out.read_error = f"{path}: {e}"
    return out, b""


class _StreamWriter:
    """Collects a kind's bulk bodies (encoded, line-prefixed) and writes them as one file."""

    def __init__(self, path: str) -> None:
        self.stream = BulkStream(path)
        self.parts: list[bytes] = []
        self.line, self.offset = 1, 0

    def add(self, number: int, body: bytes) -> None:
        self.stream.numbers.append(number)
        self.stream.starts.append(self.line)
        self.stream.offsets.append(self.offset)
        body = body.strip(b"\n")
        lines = body.split(b"\n") if body else []
        # Blank lines, and rows of only spaces and commas, are not rows (ingest's SQL leaves them out of a
        # file parsed alone too). Only a line starting with a byte up to "," can be one, and the smallest
        # line tells whether there is such a line: faster than searching the body for them.
        if lines and min(lines)[:1] <= b",":
            lines = [line for line in lines if line.strip(b" \t") and line.strip(b" ,")]
        if lines:
            n = len(lines)
            parts = [b""] * (3 * n)  # interleaved and joined by C code: a Python loop per row cost 4x more
            parts[0::3] = [b"\n%d," % number] * n
            parts[1::3] = _ROW_NUMBERS[:n] if n <= len(_ROW_NUMBERS) else [b"%d," % i for i in range(1, n + 1)]
            parts[2::3] = lines
            part = b"".join(parts)[1:] + b"\n"
            self.parts.append(part)
            self.line += len(lines)
            self.offset += len(part)

    def write(self) -> BulkStream:
        with open(self.stream.path, "wb") as out:
            out.writelines(self.parts)
        self.parts = []
        return self.stream


def unopenable_detail(path: str, error: OSError) -> str:
    """What a clerk reads about a landed file the run could not open."""
    reason = error.strerror or type(error).__name__
    return (
        f"{path} could not be opened ({reason}) and was not read; save it again as a plain file the "
        "pipeline may read (no special permissions), and the next run reads it"
    )


def prepare_chunk(
    root: str,
    files: list[tuple[str, str, str | None]],
    known: Collection[tuple[str, str]],
    out_dir: str,
    name: str,
    bulk: bool = True,
) -> PreparedChunk:
    """Read and prepare `files` ((path under root, kind, ext), in scan order).

    A (path, sha256) in `known` was loaded before (same content): only its digest is returned. Bulk
    streams are written to `out_dir` as `<name>_<kind>.csv`.
    """
    prepared: list[PreparedFile] = []
    writers: dict[str, _StreamWriter] = {}
    number = 0
    for path, kind, ext in files:
        try:
            with open(os.path.join(root, path), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:  # removed since the scan (as a file gone before its stat: not in this run)
            prepared.append(PreparedFile("", gone=True))
            continue
        except OSError as e:  # e.g. no read permission, or replaced by a folder since the scan
            prepared.append(PreparedFile("", unopenable=unopenable_detail(path, e)))
            continue
        sha = hashlib.sha256(data).hexdigest()
        if (path, sha) in known:
            prepared.append(PreparedFile(sha, known=True))
            continue
        pf, body = classify(path, kind, ext, data, sha, bulk)
        pf.number = number
        number += 1
        if pf.parse_path == "bulk":
            if kind not in writers:
                writers[kind] = _StreamWriter(os.path.join(out_dir, f"{name}_{kind}.csv"))
            writers[kind].add(pf.number, body)
        prepared.append(pf)
    return PreparedChunk(prepared, {kind: w.write() for kind, w in writers.items()})
