"""Open one input file: detect gzip (magic bytes), the format (Parquet, JSON Lines, delimited text) and the
delimiter, check it against the name it was given, and read it with a source line number per row.

Text files are read with every column as String so that no type guess can fail on a later row; the mapper
casts each canonical column itself and quarantines the rows that do not cast.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from engine.errors import InputError

LINE_COLUMN = "__line"
BATCH_ROWS = 1_000_000  # rows mapped at a time: bounds the memory a large file needs beyond its result
HEAD_BYTES = 65536
DELIMITERS = (",", "\t", ";", "|")
_DECLARED = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "text",
    ".tsv": "text",
    ".tab": "text",
    ".txt": "text",
    ".psv": "text",
    ".dat": "text",
}
_FORMAT_NAMES = {"parquet": "Parquet", "jsonl": "JSON Lines", "text": "delimited text (CSV/TSV)"}


@dataclass(frozen=True)
class SourceFile:
    """What was detected about one input file."""

    path: Path
    format: str  # "text", "parquet" or "jsonl"
    compressed: bool
    delimiter: str = ""
    has_header: bool = True


def _head(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the (decompressed) content and whether the file is gzip."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; pass the files inside it")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
            if magic != b"\x1f\x8b":
                return magic + handle.read(HEAD_BYTES - 2), False
        with gzip.open(path, "rb") as handle:
            return handle.read(HEAD_BYTES), True
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise InputError(
            f"{path}: starts like gzip but cannot be decompressed ({error}); re-export the file"
        ) from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None


def _detect_kind(head: bytes) -> str:
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "jsonl"
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is fine; otherwise accept Latin-1 style
        # text (read lossily) but not control bytes, which mean a binary file.
        if error.start < len(head) - 4 and any(byte < 9 or 13 < byte < 32 for byte in head[:4096]):
            return "binary"
    return "text"


def _declared_kind(path: Path) -> str | None:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    return _DECLARED.get(suffixes[-1]) if suffixes else None


def detect_delimiter(first_line: str) -> str:
    """The candidate delimiter that occurs most often in the header line (comma when none does)."""
    counts = {candidate: first_line.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] > 0 else ","


def _first_line(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _looks_like_header(first_line: str, delimiter: str, expected: tuple[str, ...]) -> bool:
    fields = {field.strip().strip('"').lower() for field in first_line.split(delimiter)}
    return bool(fields & {name.lower() for name in expected})


def _drop_nested(frame: pl.DataFrame) -> pl.DataFrame:
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    return frame.drop(nested) if nested else frame


def _batches(
    path: Path, kind: str, make: Callable[[], Iterator[pl.DataFrame]], detail: str
) -> Iterator[pl.DataFrame]:
    """Yield the reader's batches, turning read errors into InputError and a file without rows into one."""
    rows = 0
    try:
        for batch in make():
            rows += batch.height
            if batch.height:
                yield batch
    except pl.exceptions.PolarsError as error:
        message = " ".join(str(error).split())[:300]
        raise InputError(f"{path}: cannot be read as {_FORMAT_NAMES[kind]}: {message}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    if rows == 0:
        raise InputError(f"{path}: no data rows{detail}; nothing to ingest")


def _slices(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, BATCH_ROWS):
        yield frame.slice(offset, BATCH_ROWS)


def open_source(
    path: Path | str, *, delimiter: str = "", header: tuple[str, ...] = ()
) -> tuple[SourceFile, Iterator[pl.DataFrame]]:
    """Check one file and return what was detected plus its rows in batches of at most BATCH_ROWS (raw
    columns plus __line, the 1-based source line or row number); text is streamed, never held whole."""
    path = Path(path)
    head, compressed = _head(path)
    if not head.strip():
        raise InputError(f"{path}: file is empty; nothing to ingest")
    kind = _detect_kind(head)
    declared = _declared_kind(path)
    if kind == "binary":
        raise InputError(
            f"{path}: not a recognised format; expected CSV/TSV/semicolon text, Parquet or JSON Lines (optionally gzip)"
        )
    if declared == "jsonl" and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        raise InputError(
            f"{path}: is a JSON array; convert it to JSON Lines (one object per line), e.g. jq -c '.[]'"
        )
    if declared and declared != kind:
        raise InputError(
            f"{path}: named like a {_FORMAT_NAMES[declared]} file but contains {_FORMAT_NAMES[kind]}; "
            "rename it or re-export it in the declared format"
        )
    if kind in ("parquet", "jsonl"):

        def read_structured() -> Iterator[pl.DataFrame]:
            if kind == "parquet" and compressed:  # rare: polars cannot scan a gzipped Parquet file
                with gzip.open(path, "rb") as handle:
                    frame = pl.read_parquet(io.BytesIO(handle.read()))
                yield from _slices(_drop_nested(frame).with_row_index(LINE_COLUMN, offset=1))
                return
            if kind == "parquet":
                lazy = pl.scan_parquet(path)
            else:
                lazy = pl.scan_ndjson(path, infer_schema_length=None)  # the whole file decides each type
            flat = [name for name, dtype in lazy.collect_schema().items() if not dtype.is_nested()]
            lazy = lazy.select(flat).with_row_index(LINE_COLUMN, offset=1)
            yield from lazy.collect_batches(chunk_size=BATCH_ROWS)

        return SourceFile(path, kind, compressed), _batches(path, kind, read_structured, "")
    first_line = _first_line(head)
    separator = delimiter or detect_delimiter(first_line)
    has_header = not header or _looks_like_header(first_line, separator, header)

    def read_text() -> Iterator[pl.DataFrame]:
        lazy = pl.scan_csv(
            path,
            separator=separator,
            has_header=has_header,
            new_columns=list(header) if header and not has_header else None,
            infer_schema=False,  # every column as text: no guess from early rows can fail later
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
            raise_if_empty=False,
        ).with_row_index(LINE_COLUMN, offset=2 if has_header else 1)
        yield from lazy.collect_batches(chunk_size=BATCH_ROWS)

    source = SourceFile(path, kind, compressed, separator, has_header)
    return source, _batches(path, kind, read_text, " (only a header line)" if has_header else "")
