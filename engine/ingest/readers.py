"""Open one input file: detect gzip (magic bytes), the format (Parquet, JSON Lines, delimited text) and the
delimiter, check it against the name it was given, and read it with a source line number per row.

Text files are read with every column as String so that no type guess can fail on a later row; the mapper
casts each canonical column itself and quarantines the rows that do not cast.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import os
import re
import stat
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from engine.errors import InputError

LINE_COLUMN = "__line"
# Rows mapped at a time. Polars' batch reader decodes ahead of the consumer (a few batches' worth), so this
# also sets the reader's own memory: 250k rows keeps a batch being mapped plus the read-ahead in ~0.5 GB.
BATCH_ROWS = 250_000
HEAD_BYTES = 65536
DELIMITERS = (",", "\t", ";", "|")
WHITESPACE = "whitespace"  # runs of spaces/tabs separate fields (fixed-width-looking logs such as CDNOW)
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
    encoding: str = ""  # the text encoding it was read with ("" for Parquet)
    encoding_detected: bool = False  # True when not UTF-8 and no encoding was given
    # Filled while the rows are read: rows holding bytes that did not decode (stored as U+FFFD), first line.
    replaced: dict[str, int] = field(default_factory=dict, compare=False)
    duplicate_columns: dict[str, int] = field(default_factory=dict, compare=False)  # header name -> times
    guessed_columns: tuple[str, ...] = ()  # names given to a header-less file's columns from their values

    @property
    def shown(self) -> str:
        """The path as printable text."""
        return display_path(self.path)


def display_path(path: Path | str) -> str:
    """The path as text that can always be printed and stored (bytes that are not UTF-8 shown as \\xff)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _readable_path(path: Path) -> tuple[str, int | None]:
    """A path polars can open, and the descriptor to close after.

    polars takes only UTF-8 text paths (a file name with other bytes fails with "Object does not have a .read()
    method"), so such a file is opened here and read through /dev/fd/N.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        descriptor = os.open(path, os.O_RDONLY)
        return f"/dev/fd/{descriptor}", descriptor
    return text, None


def _head(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the (decompressed) content and whether the file is gzip."""
    shown = display_path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file; check the path") from None
    except OSError as error:
        raise InputError(f"{shown}: cannot read: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{shown}: is a folder; pass the files inside it")
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
        )
        raise InputError(
            f"{shown}: is {kind}, not a regular file; write the data to a file first (ingest reads a file "
            "more than once and cannot wait on a pipe)"
        )
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
            if magic != b"\x1f\x8b":
                return magic + handle.read(HEAD_BYTES - 2), False
        with gzip.open(path, "rb") as handle:
            return handle.read(HEAD_BYTES), True
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise InputError(
            f"{shown}: starts like gzip but cannot be decompressed ({error}); re-export the file"
        ) from None
    except OSError as error:
        raise InputError(f"{shown}: cannot read: {error.strerror or error}") from None


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
    """The candidate delimiter that occurs most often in the header line; WHITESPACE when none occurs but
    spaces separate several fields (a whitespace-aligned log); comma otherwise."""
    counts = {candidate: first_line.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    if counts[best] > 0:
        return best
    return WHITESPACE if len(first_line.split()) > 1 else ","


def _first_line(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _looks_like_header(first_line: str, delimiter: str, expected: tuple[str, ...]) -> bool:
    parts = first_line.split() if delimiter == WHITESPACE else first_line.split(delimiter)
    fields = {field.strip().strip('"').lower() for field in parts}
    return bool(fields & {name.lower() for name in expected})


_DAY = re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")  # 19970101
_ISO_DAY = re.compile(r"^(19|20)\d{2}-\d{2}-\d{2}([ T].*)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)$")


def guess_transaction_columns(first_line: str, delimiter: str) -> tuple[str, ...] | None:
    """Column names for a header-less purchase log, from its first row's values; None when the row looks like
    a header (or the roles cannot be told). The first field is the customer, the first date-like field
    (19970101 or ISO) the date, the last decimal field after it the amount, an integer between them the
    quantity; the rest are `column_<n>` (CDNOW's own sample: customer, second id, date, CDs, dollars)."""
    parts = first_line.split() if delimiter == WHITESPACE else first_line.split(delimiter)
    fields = [part.strip().strip('"') for part in parts]
    if len(fields) < 3 or not all(_DECIMAL.match(f) or _ISO_DAY.match(f) for f in fields[1:]):
        return None
    dates = [i for i, value in enumerate(fields) if i > 0 and (_DAY.match(value) or _ISO_DAY.match(value))]
    if not dates:
        return None
    day = dates[0]
    amounts = [i for i in range(day + 1, len(fields)) if _DECIMAL.match(fields[i])]
    if not amounts:
        return None
    amount = amounts[-1]
    names = [f"column_{index + 1}" for index in range(len(fields))]
    names[0], names[day], names[amount] = "customer_id", "date", "amount"
    between = [i for i in range(day + 1, amount) if _INTEGER.match(fields[i])]
    if between:
        names[between[-1]] = "quantity"
    return tuple(names)


def _drop_nested(frame: pl.DataFrame) -> pl.DataFrame:
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    return frame.drop(nested) if nested else frame


def _duplicate_names(first_line: str, separator: str) -> dict[str, int]:
    """Header names given more than once (polars keeps the first and renames the others)."""
    names = [name.strip().strip('"') for name in next(csv.reader([first_line], delimiter=separator), [])]
    counts = Counter(name for name in names if name)
    return {name: count for name, count in counts.items() if count > 1}


def _nul_line(head: bytes) -> int | None:
    """The line of the first NUL byte when the text before it reads as text (else None: a binary file)."""
    position = head.find(b"\x00")
    if position <= 0:
        return None
    before = head[:position]
    if b"\n" not in before or any(byte < 9 or 13 < byte < 32 for byte in before):
        return None
    return before.count(b"\n") + 1


def _utf8_head(head: bytes) -> bool:
    """True when the sample is UTF-8 (a multi-byte character cut at the end of the sample is fine)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 4
    return True


def _transcoded(path: Path, compressed: bool, encoding: str) -> str:
    """Decode the file from encoding into a UTF-8 temp file, streaming; returns its path (the caller deletes it).

    polars reads only UTF-8, so another encoding is decoded here in 1 MiB steps (memory stays flat); bytes the
    codec cannot decode become U+FFFD and are counted like any other replacement.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    handle, name = tempfile.mkstemp(prefix="shopctl-ingest-", suffix=".utf8")
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as source, os.fdopen(handle, "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(decoder.decode(chunk).encode("utf-8"))
            target.write(decoder.decode(b"", final=True).encode("utf-8"))
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return name


def _tabbed(path: Path, compressed: bool, encoding: str) -> str:
    """Rewrite a whitespace-separated file as a tab-separated UTF-8 temp file, streaming line by line (leading
    and trailing blanks dropped, each run of blanks one tab); returns its path (the caller deletes it).

    polars' CSV reader takes one separator byte, and a log aligned with runs of spaces (CDNOW's master file)
    would otherwise read as one column.
    """
    handle, name = tempfile.mkstemp(prefix="shopctl-ingest-", suffix=".tsv")
    try:
        opener = gzip.open if compressed else open
        with (
            opener(path, "rt", encoding=encoding, errors="replace", newline="") as source,
            os.fdopen(handle, "w", encoding="utf-8") as target,
        ):
            for line in source:
                target.write("\t".join(line.split()) + "\n")
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return name


def _count_replaced(batch: pl.DataFrame, replaced: dict[str, int]) -> None:
    """Count rows holding U+FFFD (a byte that did not decode) and remember the first one's line."""
    text_columns = [name for name, dtype in batch.schema.items() if dtype == pl.String]
    if not text_columns:
        return
    hit = batch.select(
        pl.any_horizontal(pl.col(text_columns).str.contains("\ufffd", literal=True).fill_null(False)).alias(
            "hit"
        ),
        pl.col(LINE_COLUMN),
    ).filter(pl.col("hit"))
    if hit.height:
        replaced["rows"] = replaced.get("rows", 0) + hit.height
        replaced.setdefault("first_line", int(hit[LINE_COLUMN][0]))


def _first_bad_json_line(path: Path) -> tuple[int, str] | None:
    """The first line of a JSON Lines file that is not a JSON object, and why (read only when polars refused
    the file, to name the line its error does not)."""
    import json

    with contextlib.suppress(OSError, EOFError, gzip.BadGzipFile, zlib.error):
        with open(path, "rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
        with (gzip.open if compressed else open)(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw)
                except ValueError as error:
                    return number, str(error).split(":")[0]
                if not isinstance(value, dict):
                    return number, f"a {type(value).__name__}, not an object"
    return None


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
        if kind == "jsonl":
            bad = _first_bad_json_line(path)
            if bad is not None:
                line, reason = bad
                message = f"line {line} is not a JSON object ({reason})"
        raise InputError(
            f"{display_path(path)}: cannot be read as {_FORMAT_NAMES[kind]}: {message}"
        ) from None
    except OSError as error:
        raise InputError(f"{display_path(path)}: cannot read: {error.strerror or error}") from None
    if rows == 0:
        raise InputError(f"{display_path(path)}: no data rows{detail}; nothing to ingest")


def _slices(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, BATCH_ROWS):
        yield frame.slice(offset, BATCH_ROWS)


def open_source(
    path: Path | str,
    *,
    delimiter: str = "",
    header: tuple[str, ...] = (),
    encoding: str = "",
    guess_header: bool = False,
) -> tuple[SourceFile, Iterator[pl.DataFrame]]:
    """Check one file and return what was detected plus its rows in batches of at most BATCH_ROWS (raw
    columns plus __line, the 1-based source line or row number); text is streamed, never held whole.
    guess_header: a text file whose first row is all data gets column names from guess_transaction_columns."""
    path = Path(path)
    shown = display_path(path)
    head, compressed = _head(path)
    if not head.strip():
        raise InputError(f"{shown}: file is empty; nothing to ingest")
    if encoding and encoding != "utf-8" and not head.startswith(b"PAR1"):
        head = head.decode(encoding, errors="replace").encode(
            "utf-8"
        )  # e.g. UTF-16: judge the text, not bytes
    kind = _detect_kind(head)
    declared = _declared_kind(path)
    nul_line = _nul_line(head) if kind == "binary" else None
    if nul_line is not None:
        raise InputError(
            f"{shown}: line {nul_line} holds a NUL byte (\\x00), which no text export should; remove it "
            "(e.g. tr -d '\\000' < in.csv > out.csv) or re-export the file"
        )
    if kind == "binary":
        raise InputError(
            f"{shown}: not a recognised format; expected CSV/TSV/semicolon text, Parquet or JSON Lines (optionally gzip)"
        )
    if declared == "jsonl" and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        raise InputError(
            f"{shown}: is a JSON array; convert it to JSON Lines (one object per line), e.g. jq -c '.[]'"
        )
    if declared and declared != kind:
        raise InputError(
            f"{shown}: named like a {_FORMAT_NAMES[declared]} file but contains {_FORMAT_NAMES[kind]}; "
            "rename it or re-export it in the declared format"
        )
    if kind == "parquet":

        def read_parquet() -> Iterator[pl.DataFrame]:
            if compressed:  # rare: polars cannot scan a gzipped Parquet file
                with gzip.open(path, "rb") as handle:
                    frame = pl.read_parquet(io.BytesIO(handle.read()))
                yield from _slices(_drop_nested(frame).with_row_index(LINE_COLUMN, offset=1))
                return
            readable, descriptor = _readable_path(path)
            try:
                lazy = pl.scan_parquet(readable)
                flat = [name for name, dtype in lazy.collect_schema().items() if not dtype.is_nested()]
                rows = lazy.select(pl.len()).collect().item()  # from the footer, no data read
                # One slice per batch rather than collect_batches, whose reader decodes ahead of a slow
                # consumer (~0.45 GB more at 250k-row batches); a slice reads only the row groups it needs.
                for offset in range(0, rows, BATCH_ROWS):
                    batch = lazy.select(flat).slice(offset, BATCH_ROWS).collect()
                    yield batch.with_row_index(LINE_COLUMN, offset=offset + 1)
            finally:
                if descriptor is not None:
                    os.close(descriptor)

        return SourceFile(path, kind, compressed), _batches(path, kind, read_parquet, "")
    chosen = encoding or ("utf-8" if _utf8_head(head) else "cp1252")
    source_args: dict[str, Any] = {
        "encoding": chosen,
        "encoding_detected": not encoding and chosen != "utf-8",
    }

    def text_path() -> tuple[str, Callable[[], None]]:
        """A UTF-8 path polars can read (the file itself, or a transcoded copy) and how to clean up after."""
        if kind == "text" and separator == WHITESPACE:  # separator is set below, before any text is read
            name = _tabbed(path, compressed, chosen)
            return name, lambda: Path(name).unlink(missing_ok=True)
        if chosen != "utf-8":
            name = _transcoded(path, compressed, chosen)
            return name, lambda: Path(name).unlink(missing_ok=True)
        readable, descriptor = _readable_path(path)
        return readable, (lambda: os.close(descriptor)) if descriptor is not None else (lambda: None)

    if kind == "jsonl":
        source = SourceFile(path, kind, compressed, **source_args)

        def read_jsonl() -> Iterator[pl.DataFrame]:
            readable, cleanup = text_path()
            try:
                lazy = pl.scan_ndjson(readable, infer_schema_length=None)  # the whole file decides each type
                flat = [name for name, dtype in lazy.collect_schema().items() if not dtype.is_nested()]
                for batch in (
                    lazy.select(flat)
                    .with_row_index(LINE_COLUMN, offset=1)
                    .collect_batches(chunk_size=BATCH_ROWS)
                ):
                    _count_replaced(batch, source.replaced)
                    yield batch
            finally:
                cleanup()

        return source, _batches(path, kind, read_jsonl, "")
    first_line = _first_line(head.decode(chosen, errors="replace").encode("utf-8"))
    separator = delimiter or detect_delimiter(first_line)
    guessed = guess_transaction_columns(first_line, separator) if guess_header and not header else None
    if guessed:
        header = guessed
    has_header = not header or (not guessed and _looks_like_header(first_line, separator, header))
    source = SourceFile(
        path,
        kind,
        compressed,
        separator,
        has_header,
        **source_args,
        duplicate_columns=_duplicate_names(
            "\t".join(first_line.split()) if separator == WHITESPACE else first_line,
            "\t" if separator == WHITESPACE else separator,
        )
        if has_header
        else {},
        guessed_columns=guessed or (),
    )

    def read_text() -> Iterator[pl.DataFrame]:
        readable, cleanup = text_path()
        try:
            lazy = pl.scan_csv(
                readable,
                separator="\t" if separator == WHITESPACE else separator,
                has_header=has_header,
                new_columns=list(header) if header and not has_header else None,
                infer_schema=False,  # every column as text: no guess from early rows can fail later
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
                raise_if_empty=False,
            ).with_row_index(LINE_COLUMN, offset=2 if has_header else 1)
            for batch in lazy.collect_batches(chunk_size=BATCH_ROWS):
                _count_replaced(batch, source.replaced)
                yield batch
        finally:
            cleanup()

    return source, _batches(path, kind, read_text, " (only a header line)" if has_header else "")
