"""`shopctl score --engine spark`: each partition scored by onnxruntime through mapInArrow.

The driver reads the model version once (Registry.read_onnx checks its sha256) and broadcasts its bytes and
metadata; every executor's Python worker builds one ScoringModel from them (cached by hash for the worker's life)
and scores each Arrow batch with the same preparation as local scoring: pl.from_arrow, the same invalid-input
policy (engine.scoring.stream._InvalidInputs), ScoringModel.feeds_from_frame and ScoringModel.run. The id columns
are passed through as the executor received them; nothing but accumulator counts comes back to the driver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from engine.errors import InputError
from engine.spark.io import first_line, read_parquet, user_error, write_parquet
from engine.workspace import Workspace

SCORE_COLUMN = "score"
BATCH_ROWS = (
    65_536  # rows per Arrow batch handed to onnxruntime (spark.sql.execution.arrow.maxRecordsPerBatch)
)

_MODELS: dict[str, Any] = {}  # per executor Python worker: sha256 -> ScoringModel
_MODELS_LOCK = threading.Lock()


def polars_schema(struct: Any) -> dict[str, Any]:
    """A Spark schema as the polars dtypes the same Parquet columns have locally (for ScoringModel.check_schema)."""
    import polars as pl
    from pyspark.sql import types as T

    mapping = {
        T.StringType: pl.String,
        T.DoubleType: pl.Float64,
        T.FloatType: pl.Float32,
        T.LongType: pl.Int64,
        T.IntegerType: pl.Int32,
        T.ShortType: pl.Int16,
        T.ByteType: pl.Int8,
        T.BooleanType: pl.Boolean,
        T.DateType: pl.Date,
    }
    schema: dict[str, Any] = {}
    for field in struct.fields:
        kind = type(field.dataType)
        if kind in (T.TimestampType, T.TimestampNTZType):
            schema[field.name] = pl.Datetime("us", "UTC" if kind is T.TimestampType else None)
        elif kind is T.DecimalType:
            schema[field.name] = pl.Float64
        else:
            schema[field.name] = mapping.get(kind, pl.Object)
    return schema


def _executor_model(payload: dict[str, Any]) -> Any:
    from engine.scoring.model import ScoringModel

    key = str(payload["sha256"])
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = ScoringModel(
                payload["onnx"],
                payload["metadata"],
                name=payload["name"],
                version=payload["version"],
                threads=1,
            )
            _MODELS[key] = model
    return model


def score_batches(
    batches: Iterator[Any],
    payload: dict[str, Any],
    keep: list[str],
    float_inputs: list[str],
    policy: str,
    source: str,
    counters: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """Arrow batches in, Arrow batches of keep + score + model + model_version out (what mapInArrow runs)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    from engine.scoring.stream import _InvalidInputs

    model = _executor_model(payload)
    needed = list(dict.fromkeys([*keep, *model.feature_names]))
    invalid = _InvalidInputs(float_inputs, policy)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        chunk = pl.from_arrow(batch.select(needed))
        assert isinstance(chunk, pl.DataFrame)
        before, before_rows = dict(invalid.by_column or {}), invalid.rows
        features, null_rows = invalid.apply(chunk, 0, source)
        scores = model.run(model.feeds_from_frame(features, source))
        nan = np.isnan(scores)
        hidden = nan if null_rows is None else (nan | null_rows)
        score_array = pa.array(scores, type=pa.float64(), mask=hidden if hidden.any() else None)
        if counters is not None:
            counters["rows"].add(batch.num_rows)
            counters["nan_scores"].add(
                int(nan.sum()) - (int((nan & null_rows).sum()) if null_rows is not None else 0)
            )
            after = invalid.by_column or {}
            counters["invalid_rows"].add(invalid.rows - before_rows)
            for column, count in after.items():
                counters[f"invalid:{column}"].add(count - before.get(column, 0))
        rows = batch.num_rows
        yield pa.RecordBatch.from_arrays(
            [
                *(batch.column(name) for name in keep),
                score_array,
                pa.array([model.name] * rows, type=pa.string()),
                pa.array(np.full(rows, model.version, dtype=np.int32), type=pa.int32()),
            ],
            names=[*keep, SCORE_COLUMN, "model", "model_version"],
        )


def _scored(
    model_version: Any, frame: Any, source: str, keep: list[str] | None, policy: str, require_keep: bool
) -> tuple[Any, dict[str, Any], list[str], Any]:
    """(scored DataFrame, accumulators, float inputs, broadcast) for a registry version on a Spark DataFrame."""
    import polars as pl
    from pyspark.sql import types as T

    from engine.scoring.model import ScoringModel

    onnx_bytes = model_version.read_onnx()  # checks the sha256 against metadata.json
    metadata = model_version.metadata
    # Built once on the driver too: the schema check and the feature list, with the same messages as local.
    model = ScoringModel(
        onnx_bytes, metadata, name=model_version.name, version=model_version.version, threads=1
    )
    schema = polars_schema(frame.schema)
    model.check_schema(schema, source)
    ids = model.spec.id_columns if model.spec else ()
    keep = list(keep) if keep is not None else [column for column in ids if column in schema]
    unknown = [column for column in keep if column not in schema]
    if unknown:
        raise InputError(f"{source}: no column {', '.join(map(repr, unknown))} to keep; check --keep")
    if not keep and require_keep:
        raise InputError(
            f"{source}: has none of the model's id columns ({', '.join(ids) or 'none'}) and Spark has no row "
            "order to number rows by; pass --keep COLUMN naming a column that identifies each row"
        )
    float_inputs = [
        item.column
        for item in model.inputs
        if not item.is_string and schema[item.column] in (pl.Float32, pl.Float64)
    ]
    out_schema = T.StructType(
        [
            *(frame.schema[column] for column in keep),
            T.StructField(SCORE_COLUMN, T.DoubleType(), True),
            T.StructField("model", T.StringType(), True),
            T.StructField("model_version", T.IntegerType(), True),
        ]
    )
    spark = frame.sparkSession
    context = spark.sparkContext
    payload = context.broadcast(
        {
            "onnx": onnx_bytes,
            "metadata": metadata,
            "name": model_version.name,
            "version": model_version.version,
            "sha256": str(metadata["sha256"]),
        }
    )
    counter_names = ["rows", "nan_scores", "invalid_rows", *(f"invalid:{column}" for column in float_inputs)]
    counters = {key: context.accumulator(0) for key in counter_names}
    needed = list(dict.fromkeys([*keep, *model.feature_names]))
    columns = list(keep)

    def score_partition(batches: Iterator[Any]) -> Iterator[Any]:
        yield from score_batches(batches, payload.value, columns, float_inputs, policy, source, counters)

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
    scored = frame.select(*(f"`{column}`" for column in needed)).mapInArrow(score_partition, out_schema)
    return scored, counters, float_inputs, payload


def scored_frame(ws: Workspace, model_version: Any, frame: Any, source: str) -> Any:
    """The model's scores of a Spark DataFrame as a one-column DataFrame (`score`), computed on the executors."""
    scored, _, _, _ = _scored(model_version, frame, source, [], ws.settings.scoring.on_invalid, False)
    return scored.select(SCORE_COLUMN)


def spark_score(
    ws: Workspace,
    name: str,
    input: str,  # noqa: A002 - the same keyword as engine.scoring.score_file
    output: str,
    version: int | None = None,
    *,
    master: str | None = None,
    keep: list[str] | None = None,
    on_invalid: str | None = None,
    spark: Any = None,
) -> dict[str, Any]:
    """Score a Parquet file or folder into a Parquet folder on Spark; the same result dict as score_file."""
    from engine.registry import Registry
    from engine.scoring.stream import ON_INVALID
    from engine.spark.session import spark_session

    started = time.perf_counter()
    policy = on_invalid or ws.settings.scoring.on_invalid
    if policy not in ON_INVALID:
        raise InputError(f"--on-invalid {policy!r}: use one of {', '.join(ON_INVALID)}")
    model_version = Registry(ws).get(name, version)
    source = str(input)
    spark = spark or spark_session(ws, master)
    frame = read_parquet(spark, source)
    scored, counters, float_inputs, payload = _scored(model_version, frame, source, keep, policy, True)
    context = spark.sparkContext
    try:
        write_parquet(scored, output)
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - an executor's InputError comes back wrapped in Spark's
        raised = user_error(error)
        if raised is not None:
            raise raised from None
        raise InputError(f"{input}: Spark scoring failed: {first_line(error)}") from None
    finally:
        payload.unpersist()
    rows = int(counters["rows"].value)
    if rows == 0:
        raise InputError(f"{input}: has no rows; nothing was scored")
    seconds = time.perf_counter() - started
    by_column = {
        column: int(counters[f"invalid:{column}"].value)
        for column in float_inputs
        if counters[f"invalid:{column}"].value
    }
    invalid_rows = int(counters["invalid_rows"].value)
    nan_scores = int(counters["nan_scores"].value)
    return {
        "rows": rows,
        "seconds": round(seconds, 4),
        "rows_per_second": round(rows / seconds) if seconds > 0 else None,
        "model": model_version.name,
        "version": model_version.version,
        "input": source,
        "output": str(output),
        "format": "parquet",
        "engine": "spark",
        "master": context.master,
        "partitions": scored.rdd.getNumPartitions(),
        "columns": scored.columns,
        "on_invalid": policy,
        "invalid_rows": invalid_rows,
        "invalid_by_column": by_column,
        "nan_scores": nan_scores,
        "null_scores": nan_scores + (invalid_rows if policy == "null" else 0),
    }
