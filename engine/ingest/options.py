"""Ingest options (one-off overrides from the command line or a caller) and the plan they resolve to.

Precedence, most specific first: an option given here, then a non-default `[schema]` value in config.toml,
then the preset, then the built-in default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.config import EVENT_TYPES, SchemaConfig
from engine.errors import InputError
from engine.event_columns import MAPPABLE_COLUMNS
from engine.ingest.presets import GENERIC_ALIASES, Preset, get_preset
from engine.ingest.timeparse import NAMED_FORMATS, check_time_zone

DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_SCHEMA_DEFAULTS = SchemaConfig()


@dataclass
class IngestOptions:
    """What a caller may override for one ingest; None means "use config.toml / the preset"."""

    preset: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    events: dict[str, str] = field(default_factory=dict)  # source event name -> canonical type
    dimensions: dict[str, str] = field(default_factory=dict)  # dimension name -> source column
    time_format: str | None = None
    time_zone: str | None = None
    session_gap_minutes: float | None = None
    delimiter: str | None = None
    encoding: str | None = None
    resessionize: bool | None = None
    unmapped: str | None = None


@dataclass(frozen=True)
class IngestPlan:
    """The fully resolved mapping every file of one ingest is read with."""

    preset: Preset | None
    explicit_columns: dict[str, str]
    candidates: dict[str, tuple[str, ...]]
    coalesce_candidates: bool
    events: dict[str, str]
    dimensions: dict[str, str]
    unmapped: str
    time_format: str
    time_zone: str
    extra_time_formats: tuple[str, ...]
    delimiter: str
    encoding: str  # "" = detect (UTF-8, else Windows-1252)
    session_gap_minutes: float
    resessionize: bool
    plausible_start: datetime
    plausible_end: datetime

    @property
    def preset_name(self) -> str:
        return self.preset.name if self.preset else ""


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """Turn repeated NAME=VALUE strings into a dict, naming the option when one is malformed."""
    pairs: dict[str, str] = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"{option} {raw!r}: expected NAME=VALUE, e.g. {option} event_time=ts")
        pairs[name.strip()] = value.strip()
    return pairs


def _delimiter(value: str) -> str:
    value = DELIMITER_NAMES.get(value.lower(), value) if value else ""
    if value.lower() == "whitespace":
        return "whitespace"  # engine.ingest.readers.WHITESPACE: runs of blanks separate fields
    if len(value) > 1:
        raise InputError(
            f"delimiter {value!r}: use one character, or tab, comma, semicolon, pipe, whitespace"
        )
    return value


def _encoding(value: str) -> str:
    """A codec name Python knows, normalised ("latin1" -> "iso8859-1"); "" or "auto" = detect."""
    import codecs

    if not value or value.lower() == "auto":
        return ""
    try:
        return codecs.lookup(value).name
    except LookupError:
        raise InputError(
            f"encoding {value!r}: not an encoding Python knows; use utf-8, cp1252, latin-1, utf-16, ..."
        ) from None


def _configured(config: SchemaConfig, key: str) -> Any:
    """A [schema] value when it differs from the default (a default must not override a preset)."""
    value = getattr(config, key)
    return None if value == getattr(_SCHEMA_DEFAULTS, key) else value


def _check_columns(columns: dict[str, str], where: str) -> None:
    for canonical in columns:
        if canonical not in MAPPABLE_COLUMNS:
            raise InputError(
                f"{where} maps unknown canonical column {canonical!r}; "
                f"use one of {', '.join(MAPPABLE_COLUMNS)}, e.g. --column event_time=ts"
            )


def _check_events(events: dict[str, str], where: str) -> None:
    for source, canonical in events.items():
        if canonical not in EVENT_TYPES:
            raise InputError(
                f"{where} maps event {source!r} to {canonical!r}; expected one of {', '.join(EVENT_TYPES)}"
            )


def resolve_plan(
    config: SchemaConfig, options: IngestOptions | None = None, now: datetime | None = None
) -> IngestPlan:
    """Combine options, config.toml [schema] and the preset into one plan (InputError on a bad value)."""
    options = options or IngestOptions()
    preset = get_preset(options.preset if options.preset is not None else config.preset)
    _check_columns(config.columns, "config.toml [schema] columns")
    _check_columns(options.columns, "--column")
    _check_events(options.events, "--event")
    events = {**(preset.events if preset else {}), **config.events, **options.events}
    # A preset's dimension source applies unless config.toml names its own source for that dimension.
    preset_dimensions = {
        name: column
        for name, column in (preset.dimensions if preset else {}).items()
        if config.dimensions.get(name) in (None, _SCHEMA_DEFAULTS.dimensions.get(name))
    }
    dimensions = {**config.dimensions, **preset_dimensions, **options.dimensions}
    time_format = (
        options.time_format or _configured(config, "time_format") or (preset.time_format if preset else "")
    )
    if time_format and time_format not in NAMED_FORMATS and "%" not in time_format:
        raise InputError(
            f"time format {time_format!r}: use one of {', '.join(NAMED_FORMATS)} or a strftime pattern like %d/%m/%Y"
        )
    time_zone = (
        options.time_zone or _configured(config, "time_zone") or (preset.time_zone if preset else "") or "UTC"
    )
    gap = (
        options.session_gap_minutes if options.session_gap_minutes is not None else config.session_gap_minutes
    )
    if gap <= 0:
        raise InputError(f"session gap {gap} minutes: must be above 0, e.g. --session-gap 30")
    unmapped = options.unmapped or config.unmapped
    if unmapped not in ("other", "quarantine"):
        raise InputError(f"unmapped {unmapped!r}: use 'other' or 'quarantine'")
    plausible_start = _configured(config, "plausible_start") or (preset.plausible_start if preset else "")
    plausible_start = str(plausible_start or config.plausible_start)
    try:
        start = date.fromisoformat(plausible_start)
    except ValueError:
        raise InputError(
            f"config.toml [schema] plausible_start {plausible_start!r}: use a date like 2000-01-01"
        ) from None
    now = now or datetime.now(UTC)
    return IngestPlan(
        preset=preset,
        explicit_columns={**config.columns, **options.columns},
        candidates=dict(preset.columns) if preset else dict(GENERIC_ALIASES),
        coalesce_candidates=preset is not None,
        events=events,
        dimensions=dimensions,
        unmapped=unmapped,
        time_format=str(time_format),
        time_zone=check_time_zone(str(time_zone)),
        extra_time_formats=preset.extra_time_formats if preset else (),
        delimiter=_delimiter(options.delimiter if options.delimiter is not None else config.delimiter),
        encoding=_encoding(options.encoding if options.encoding is not None else config.encoding),
        session_gap_minutes=float(gap),
        resessionize=options.resessionize if options.resessionize is not None else config.resessionize,
        plausible_start=datetime(start.year, start.month, start.day, tzinfo=UTC),
        plausible_end=now + timedelta(days=config.plausible_future_days),
    )
