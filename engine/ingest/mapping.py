"""Map one raw file onto the canonical event schema and split it into valid rows and quarantined rows.

Every rule is a vectorised polars expression; a row that breaks one keeps its original values in the
quarantine frame with its source file, line and the first rule it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from engine.config import EVENT_TYPES
from engine.errors import InputError
from engine.event_columns import MAPPABLE_COLUMNS
from engine.events import EVENT_SCHEMA
from engine.ingest.options import IngestPlan
from engine.ingest.privacy import hash_ids
from engine.ingest.readers import LINE_COLUMN, SourceFile
from engine.ingest.timeparse import parse_times

QUARANTINE_META = ("_file", "_line", "_reason")

# Quarantine reasons, in the order they are checked (a row gets the first that applies).
REASONS = (
    "missing event_time",
    "unparseable event_time",
    "implausible event_time",
    "missing event name",
    "unknown event name",
    "unparseable price",
    "negative price",
    "unparseable quantity",
)


@dataclass
class MappedFile:
    """One file after mapping: its valid canonical rows and its quarantined rows."""

    source: SourceFile
    rows_read: int
    events: pl.DataFrame
    quarantine: pl.DataFrame
    columns_used: dict[str, list[str]] = field(default_factory=dict)
    missing_dimensions: list[str] = field(default_factory=list)


def find_column(available: list[str], name: str) -> str | None:
    """The column called name, matched exactly first and then ignoring case."""
    if name in available:
        return name
    lowered = name.lower()
    return next((column for column in available if column.lower() == lowered), None)


def _text(name: str, float_ids: bool = False) -> pl.Expr:
    """A column as trimmed text with empty strings as null; float_ids also drops a float export's '.0'."""
    text = pl.col(name).cast(pl.String).str.strip_chars()
    text = pl.when(text != "").then(text)
    return text.str.replace(r"^(-?\d+)\.0+$", "$1") if float_ids else text


def _coalesced(sources: list[str], float_ids: frozenset[str] = frozenset()) -> pl.Expr:
    texts = [_text(name, name in float_ids) for name in sources]
    return pl.coalesce(texts) if len(texts) > 1 else texts[0]


def float_id_columns(raw: pl.DataFrame) -> frozenset[str]:
    """Columns holding ids written as floats ("13085.0"), found with a cheap scan so the regex that fixes
    them only runs where needed."""
    found = set()
    for name, dtype in raw.schema.items():
        if dtype.is_float() or (dtype == pl.String and raw[name].str.ends_with(".0").any()):
            found.add(name)
    return frozenset(found)


def resolve_sources(source: SourceFile, available: list[str], plan: IngestPlan) -> dict[str, list[str]]:
    """Which source columns feed each canonical column; InputError when a mapped or required one is absent."""
    sources: dict[str, list[str]] = {}
    shown = ", ".join(repr(name) for name in available)
    for canonical in MAPPABLE_COLUMNS:
        if canonical in plan.explicit_columns:
            wanted = plan.explicit_columns[canonical]
            found = find_column(available, wanted)
            if found is None:
                raise InputError(
                    f"{source.shown}: no column {wanted!r} (mapped to {canonical}); available columns: {shown}"
                )
            sources[canonical] = [found]
            continue
        found_all: list[str] = []
        for candidate in plan.candidates.get(canonical, ()):
            match = find_column(available, candidate)
            if match is not None and match not in found_all:
                found_all.append(match)
        if found_all:
            sources[canonical] = found_all if plan.coalesce_candidates else found_all[:1]
    constant = plan.preset.constant_event if plan.preset else ""
    required = ["event_time"] + ([] if constant else ["event_type"])
    for canonical in required:
        if canonical not in sources:
            looked = ", ".join(plan.candidates.get(canonical, (canonical,)))
            raise InputError(
                f"{source.shown}: missing required column {canonical} (looked for {looked}); "
                f"available columns: {shown}; map one with --column {canonical}=NAME"
            )
    return sources


def _event_names(
    sources: dict[str, list[str]], available: list[str], plan: IngestPlan, float_ids: frozenset[str]
) -> tuple[pl.Expr, pl.Expr]:
    """(the name the type is mapped from, the raw name kept in event_name); they differ only for canonical
    files that carry an event_name column beside event_type (the simulator's output, a re-export)."""
    preset = plan.preset
    if "event_type" in sources:
        name = _coalesced(sources["event_type"])
    else:
        name = pl.lit(preset.constant_event if preset else None, dtype=pl.String)
    if preset and preset.order_prefix_events and "order_id" in sources:
        order = _coalesced(sources["order_id"], float_ids)
        for prefix, event in preset.order_prefix_events.items():
            name = pl.when(order.str.starts_with(prefix)).then(pl.lit(event)).otherwise(name)
    separate = find_column(available, "event_name")
    if preset is None and separate is not None and separate not in sources.get("event_type", []):
        return name, pl.coalesce([_text(separate), name])
    return name, name


def _event_type(raw: pl.DataFrame, name: pl.Expr, plan: IngestPlan) -> pl.Expr:
    """Canonical type per row: the mapping is matched (ignoring case) on the few distinct raw names, then
    applied with one exact lookup, which is far cheaper than lower-casing millions of strings."""
    lookup = {event: event for event in EVENT_TYPES}
    lookup.update({source.lower(): canonical for source, canonical in plan.events.items()})
    distinct = raw.select(name.unique().alias("name")).to_series().drop_nulls().to_list()
    exact = {value: lookup.get(value.lower()) for value in distinct}
    return (
        name.replace_strict(exact, default=None, return_dtype=pl.String) if exact else pl.lit(None, pl.String)
    )


def _number(
    sources: list[str] | None, decimal_comma: bool, schema: pl.Schema | None = None
) -> tuple[pl.Expr, pl.Expr]:
    """(value as Float64, whether a non-empty value failed to parse)."""
    if not sources:
        return pl.lit(None, dtype=pl.Float64), pl.lit(False)
    if schema is not None and len(sources) == 1 and schema[sources[0]].is_numeric():
        # Already a number (Parquet, JSON): no round trip through text, same values and the same rule.
        value = pl.col(sources[0]).cast(pl.Float64)
        return value, value.is_not_null() & ~value.is_finite().fill_null(False)
    text = _coalesced(sources)
    if decimal_comma:
        text = text.str.replace(r"^(-?\d+),(\d+)$", "$1.$2")
    value = text.cast(pl.Float64, strict=False)
    bad = text.is_not_null() & (value.is_null() | ~value.is_finite().fill_null(False))
    return value, bad


def _canonical_columns(
    raw: pl.DataFrame,
    source: SourceFile,
    sources: dict[str, list[str]],
    plan: IngestPlan,
    float_ids: frozenset[str],
) -> tuple[dict[str, pl.Expr | None], pl.Expr, list[str]]:
    """Expressions for each canonical column and dimension (None when the file has no source for it), the
    quarantine reason per row, and the dimensions the file lacks."""
    available = [name for name in raw.columns if name != LINE_COLUMN]
    preset = plan.preset
    decimal_comma = source.delimiter not in ("", ",")
    price, price_bad = _number(sources.get("price"), decimal_comma, raw.schema)
    quantity_float, quantity_bad = _number(sources.get("quantity"), decimal_comma, raw.schema)
    quantity_bad = quantity_bad | (quantity_float != quantity_float.round()).fill_null(False)
    quantity = quantity_float.cast(pl.Int64, strict=False)
    if preset and preset.default_quantity is not None:
        quantity = quantity.fill_null(preset.default_quantity)
    if preset and preset.price_is_total:
        price = pl.when(quantity.is_not_null() & (quantity != 0)).then(price / quantity).otherwise(price)

    type_name, name = _event_names(sources, available, plan, float_ids)
    mapped_type = _event_type(raw, type_name, plan)
    unknown = type_name.is_not_null() & mapped_type.is_null()
    event_type = mapped_type if plan.unmapped == "quarantine" else mapped_type.fill_null("other")

    session_sources = sources.get("session_id") if not plan.resessionize else None
    columns: dict[str, pl.Expr | None] = {
        "event_time": pl.col("__event_time"),
        "event_type": event_type,
        "event_name": name,
        "user_id": _coalesced(sources["user_id"], float_ids) if "user_id" in sources else None,
        "session_id": _coalesced(session_sources, float_ids) if session_sources else None,
        "product_id": _coalesced(sources["product_id"], float_ids) if "product_id" in sources else None,
        "category": _coalesced(sources["category"], float_ids) if "category" in sources else None,
        "order_id": _coalesced(sources["order_id"], float_ids) if "order_id" in sources else None,
        "price": price,
        "quantity": quantity,
    }
    missing_dimensions: list[str] = []
    for dimension, wanted in plan.dimensions.items():
        if dimension in EVENT_SCHEMA:
            continue
        found = find_column(available, wanted)
        if found is None:
            missing_dimensions.append(dimension)
        columns[dimension] = _text(found) if found else None

    reason = (
        pl.when(~pl.col("__time_present"))
        .then(pl.lit(REASONS[0]))
        .when(pl.col("__event_time").is_null())
        .then(pl.lit(REASONS[1]))
        .when(~pl.col("__event_time").is_between(plan.plausible_start, plan.plausible_end))
        .then(pl.lit(REASONS[2]))
        .when(type_name.is_null())
        .then(pl.lit(REASONS[3]))
        .when(unknown & pl.lit(plan.unmapped == "quarantine"))
        .then(pl.lit(REASONS[4]))
        .when(price_bad)
        .then(pl.lit(REASONS[5]))
        .when(price < 0)
        .then(pl.lit(REASONS[6]))
        .when(quantity_bad)
        .then(pl.lit(REASONS[7]))
        .otherwise(None)
    )
    return columns, reason, missing_dimensions


def map_frame(
    source: SourceFile, raw: pl.DataFrame, plan: IngestPlan, hash_key: bytes | None = None
) -> MappedFile:
    """Map one batch (as read, with __line) onto canonical columns; return valid and quarantined rows."""
    available = [name for name in raw.columns if name != LINE_COLUMN]
    sources = resolve_sources(source, available, plan)
    float_ids = float_id_columns(raw)

    time_sources = sources["event_time"]
    time_raw = (
        raw[time_sources[0]] if len(time_sources) == 1 else raw.select(_coalesced(time_sources)).to_series()
    )
    event_time = parse_times(time_raw, plan.time_format, plan.time_zone, plan.extra_time_formats)
    time_present = raw.select(_coalesced(time_sources).is_not_null()).to_series()

    columns, reason, missing_dimensions = _canonical_columns(raw, source, sources, plan, float_ids)
    dtypes = {
        **EVENT_SCHEMA,
        **{dimension: pl.String() for dimension in columns if dimension not in EVENT_SCHEMA},
    }
    canonical = [
        (expr if expr is not None else pl.lit(None)).cast(dtypes[column]).alias(f"__c_{column}")
        for column, expr in columns.items()
    ]
    user_sources = set(sources.get("user_id", [])) if hash_key is not None else set()
    quarantine_columns = [
        _text(column, column in user_sources and column in float_ids) for column in available
    ] + [
        pl.lit(source.shown).alias("_file"),
        pl.col(LINE_COLUMN).cast(pl.Int64).alias("_line"),
        pl.col("__reason").alias("_reason"),
    ]
    # One lazy pass lets polars compute each shared sub-expression (the event name, parsed numbers) once.
    staged = (
        raw.lazy()
        .with_columns(__event_time=event_time, __time_present=time_present)
        .with_columns([*canonical, reason.alias("__reason")])
        .collect()
    )
    valid = staged["__reason"].is_null()
    events = staged.filter(valid).select([pl.col(f"__c_{column}").alias(column) for column in columns])
    quarantine = staged.filter(~valid).select(quarantine_columns)
    del staged
    if hash_key is not None:
        if events["user_id"].null_count() < events.height:
            events = events.with_columns(hash_ids(events["user_id"], hash_key))
        for column in user_sources:
            quarantine = quarantine.with_columns(hash_ids(quarantine[column], hash_key))
    return MappedFile(
        source=source,
        rows_read=raw.height,
        events=events,
        quarantine=quarantine,
        columns_used=sources,
        missing_dimensions=missing_dimensions,
    )
