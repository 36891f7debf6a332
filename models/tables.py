"""Load a pre-built training table (CSV/Parquet), parse its target and decide which columns are numeric or categorical.

Detection rules (each overridable with `[training] numeric_columns / categorical_columns / ignore_columns`):
- strings and booleans are categorical;
- integers whose name contains a code word (type, id, code, region, browser, system(s), os, category, channel,
  device, country, segment, source, ...) are categorical: `TrafficType = 3` is a label, not an amount;
- other integers and all floats are numeric;
- the first date/datetime column is the time column (used for a time split, never a feature);
- a categorical column with more than 100 distinct values that are mostly unique (> 50% of rows) is an identifier
  and is ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from engine.config import TrainingConfig
from engine.errors import InputError
from engine.spec import TableSpec

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})
CODE_WORDS = frozenset(
    {
        "id",
        "code",
        "type",
        "kind",
        "class",
        "category",
        "categories",
        "group",
        "segment",
        "status",
        "region",
        "country",
        "state",
        "city",
        "zip",
        "postcode",
        "browser",
        "os",
        "system",
        "systems",
        "platform",
        "device",
        "channel",
        "source",
        "medium",
        "campaign",
    }
)
IDENTIFIER_MIN_DISTINCT = 100


def read_table(path: Path | str) -> pl.DataFrame:
    """Read a CSV/TSV or Parquet file (type inference over the whole file); errors name the file and the fix."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; pass an existing CSV or Parquet file with --table")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        elif suffix in (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"):
            separator = "\t" if suffix.startswith(".tsv") else ","
            frame = pl.read_csv(
                path,
                separator=separator,
                infer_schema_length=None,
                null_values=["", "NA", "NaN"],
                try_parse_dates=True,
            )
        else:
            raise InputError(f"{path}: unknown table format '{path.suffix}'; use .csv, .tsv or .parquet")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as error:
        raise InputError(f"{path}: cannot read the table: {str(error).splitlines()[0]}") from None
    if frame.height == 0:
        raise InputError(f"{path}: the table has no rows; pass a file with data")
    return frame


def parse_target(series: pl.Series, where: str = "") -> tuple[pl.Series, str]:
    """The target as Int8 0/1 (boolean-like values) with task 'binary', or Float64 with task 'regression'."""
    name = series.name
    non_null = series.drop_nulls()
    if non_null.len() == 0:
        raise InputError(f"{where}column '{name}' (the target) is empty; choose another --target")
    if series.dtype == pl.Boolean:
        return series.cast(pl.Int8), "binary"
    if series.dtype.is_numeric():
        distinct = set(non_null.unique().to_list())
        if distinct <= {0, 1}:
            return series.cast(pl.Int8), "binary"
        return series.cast(pl.Float64), "regression"
    words = non_null.cast(pl.String).str.strip_chars().str.to_lowercase()
    distinct = set(words.unique().to_list())
    if distinct <= TRUE_WORDS | FALSE_WORDS:
        lowered = series.cast(pl.String).str.strip_chars().str.to_lowercase()
        parsed = pl.select(
            pl.when(lowered.is_in(list(TRUE_WORDS)))
            .then(1)
            .when(lowered.is_in(list(FALSE_WORDS)))
            .then(0)
            .otherwise(None)
            .cast(pl.Int8)
            .alias(name)
        ).to_series()
        return parsed, "binary"
    numbers = words.cast(pl.Float64, strict=False)
    if numbers.null_count() == 0:
        return parse_target(series.cast(pl.String).str.strip_chars().cast(pl.Float64), where)
    sample = ", ".join(sorted(str(value) for value in list(distinct)[:4]))
    raise InputError(
        f"{where}column '{name}' (the target) has values like {sample}: neither boolean-like (true/false, yes/no, "
        "1/0) nor numeric; map it to 1/0 or choose another --target"
    )


def _name_tokens(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {token.lower() for token in re.split(r"[^A-Za-z0-9]+", spaced) if token}


def detect_spec(
    frame: pl.DataFrame, target: str, config: TrainingConfig, task: str, where: str = ""
) -> TableSpec:
    """Column roles for a training table, following the module's rules and the config overrides."""
    known = set(frame.columns)
    for key in ("numeric_columns", "categorical_columns", "ignore_columns"):
        for column in getattr(config, key):
            if column not in known:
                raise InputError(
                    f"{where}[training] {key} names '{column}', which the table does not have; "
                    f"columns are: {', '.join(frame.columns[:20])}"
                )
    forced_numeric = set(config.numeric_columns)
    forced_categorical = set(config.categorical_columns)
    ignored = set(config.ignore_columns) | {target}
    numeric: list[str] = []
    categorical: list[str] = []
    time_column: str | None = None
    id_columns: list[str] = []
    for column in frame.columns:
        if column in ignored:
            continue
        dtype = frame.schema[column]
        if column in forced_numeric:
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise InputError(
                    f"{where}column '{column}' is listed in [training] numeric_columns but holds {dtype}; "
                    "move it to categorical_columns"
                )
            numeric.append(column)
        elif column in forced_categorical:
            categorical.append(column)
        elif dtype.is_temporal():
            if time_column is None and dtype in (pl.Date, pl.Datetime):
                time_column = column
        elif dtype.is_float():
            numeric.append(column)
        elif dtype.is_integer():
            (categorical if _name_tokens(column) & CODE_WORDS else numeric).append(column)
        elif dtype in (pl.String, pl.Boolean, pl.Categorical, pl.Enum):
            categorical.append(column)
    for column in list(categorical):
        if column in forced_categorical:
            continue
        distinct = frame[column].n_unique()
        if distinct > IDENTIFIER_MIN_DISTINCT and distinct > 0.5 * frame.height:
            categorical.remove(column)
            id_columns.append(column)
    if not numeric and not categorical:
        raise InputError(
            f"{where}no feature columns left besides the target '{target}'; check ignore_columns"
        )
    return TableSpec(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        target=target,
        task=task,  # type: ignore[arg-type]
        time_column=time_column,
        id_columns=tuple(id_columns),
    )


def load_table(
    path: Path | str, target: str, training_config: TrainingConfig
) -> tuple[pl.DataFrame, TableSpec]:
    """Read a table, parse its target column and detect the column roles (DEVELOPERS.md contract)."""
    where = f"{path}: "
    frame = read_table(path)
    if target not in frame.columns:
        raise InputError(
            f"{where}no target column '{target}'; columns are: {', '.join(frame.columns[:20])}"
            f"{' ...' if frame.width > 20 else ''}"
        )
    parsed, task = parse_target(frame[target], where)
    frame = frame.with_columns(parsed.alias(target))
    spec = detect_spec(frame, target, training_config, task, where)
    return frame, spec
