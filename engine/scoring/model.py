"""A registered model ready to score: one reused onnxruntime session and the input contract from metadata.

Callers name raw columns ("page views"); the graph takes ONNX names ("page_views"), metadata `inputs` maps one to
the other ({"name", "column"}; a model recorded without `column` reads the column of its input's name). Feeds are
built from the raw columns and keyed by ONNX name, and every error names the raw column.
Only onnxruntime, numpy and polars are used here: scoring never imports scikit-learn and never unpickles.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import polars as pl

from engine.errors import InputError
from engine.registry import Registry
from engine.scoring.fastpath import optimise_graph, save_rewrite
from engine.scoring.fastpath.feeds import category_text
from engine.spec import TableSpec
from engine.workspace import Workspace

NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
POLARS_DTYPES = {"float32": pl.Float32, "float64": pl.Float64, "int64": pl.Int64}
DEFAULT_THREADS = 2
GRAPH_CACHE = "fastpath"  # under the workspace's state/: rewritten graphs by model hash (fastpath/cache.py)


@dataclass(frozen=True)
class ModelInput:
    """One ONNX input (`name`) fed from a raw feature column (`column`), with its tensor dtype and kind."""

    name: str
    dtype: str
    kind: str
    column: str

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"


def session_options(threads: int = DEFAULT_THREADS) -> ort.SessionOptions:
    """Session options tuned for batch scoring on a small shared box: few threads, sequential, fully optimised."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Between chunks polars reads and writes on the same cores: idle onnxruntime threads must sleep, not spin.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class ScoringModel:
    """A model version loaded for scoring; predict() is thread-safe (onnxruntime's run is) and reuses one session."""

    def __init__(
        self,
        onnx_bytes: bytes,
        metadata: Mapping[str, Any],
        *,
        name: str = "",
        version: int | None = None,
        threads: int = DEFAULT_THREADS,
        graph_cache: Path | None = None,
    ) -> None:
        self.name = name or str(metadata.get("name", "model"))
        self.version = version if version is not None else metadata.get("version")
        self.metadata = dict(metadata)
        self.inputs = tuple(
            ModelInput(
                str(item["name"]),
                str(item.get("dtype", "float32")),
                str(item.get("kind", "numeric")),
                str(item.get("column", item["name"])),
            )
            for item in metadata["inputs"]
        )
        for item in self.inputs:
            if item.dtype not in NUMPY_DTYPES and not item.is_string:
                raise InputError(
                    f"model {self.label}: input {item.column!r} has dtype {item.dtype!r}; "
                    "supported: float32, float64, int64, string"
                )
        output = metadata["output"]
        self.output_name = str(output["name"])
        self.output_column = output.get("column")
        # Where the training side wrote the category it used for nulls ("" unless it says otherwise).
        missing_values = metadata.get("missing_values") or {}
        self.missing_category = str(metadata.get("missing_category", missing_values.get("categorical", "")))
        self.threshold = metadata.get("threshold")
        self.spec = TableSpec.from_dict(metadata["spec"]) if metadata.get("spec") else None
        self.feature_names = tuple(item.column for item in self.inputs)  # the raw columns an input must have
        # Whether some input's ONNX name differs from its raw column (models.onnx_export.onnx_input_names).
        self._renamed = any(item.column != item.name for item in self.inputs)
        graph_inputs = [(item.name, item.dtype) for item in self.inputs]
        rewritten, self._plan = optimise_graph(
            onnx_bytes, graph_inputs, outputs=[self.output_name], cache_dir=graph_cache
        )
        # Stored after the first successful run (a run that fails on its input changes nothing on disk).
        self._unsaved_rewrite = (
            (graph_cache, onnx_bytes, graph_inputs, [self.output_name], rewritten, self._plan)
            if graph_cache is not None
            else None
        )
        self._encoders = self._plan.encoders
        self._absent = self._plan.absent
        self._direct = tuple(
            item for item in self.inputs if item.name not in self._absent
        )  # fed as themselves
        self._session = ort.InferenceSession(
            rewritten, session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._output_names = [self.output_name]

    @property
    def label(self) -> str:
        return f"{self.name!r} v{self.version}" if self.version is not None else repr(self.name)

    def predict(self, data: pl.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Scores (positive-class probability, or the regression value) for a frame, one row dict or a list of them."""
        if isinstance(data, pl.LazyFrame):
            data = data.collect()
        if isinstance(data, pl.DataFrame):
            feeds = self.feeds_from_frame(data)
        elif isinstance(data, Mapping):
            feeds = self.feeds_from_rows([data])
        else:
            feeds = self.feeds_from_rows(data)
        return self.run(feeds)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run the session on prepared feeds and read the score column as float64."""
        result = self._session.run(self._output_names, feeds)[0]
        if self._unsaved_rewrite is not None:
            self._save_rewrite()
        if self.output_column is not None and result.ndim == 2:
            result = result[:, int(self.output_column)]
        return np.asarray(result, dtype=np.float64).reshape(-1)

    def _save_rewrite(self) -> None:
        with _CACHE_LOCK:
            unsaved, self._unsaved_rewrite = self._unsaved_rewrite, None
        if unsaved is not None:
            save_rewrite(*unsaved)

    # -- input conversion ------------------------------------------------------------------------------

    def check_columns(self, columns: Sequence[str], source: str = "the input") -> None:
        """Raise InputError naming every model input the columns lack."""
        present = set(columns)
        missing = [name for name in self.feature_names if name not in present]
        if missing:
            listed = ", ".join(repr(name) for name in missing)
            raise InputError(
                f"{source} lacks column{'s' if len(missing) > 1 else ''} {listed} needed by model {self.label}; "
                "add them (empty values are allowed)"
            )

    def check_schema(self, schema: Mapping[str, pl.DataType], source: str = "the input") -> None:
        """Raise InputError for missing columns and for columns whose type cannot feed the model."""
        self.check_columns(list(schema), source)
        wrong = []
        for item in self.inputs:
            dtype = schema[item.column]
            if not _acceptable(dtype, item):
                expected = "text or a category" if item.is_string else "numbers"
                wrong.append(f"{item.column!r} is {dtype}, expected {expected}")
        if wrong:
            raise InputError(
                f"{source}: wrong column type: {'; '.join(wrong)}; fix the file or cast the column"
            )

    def feeds_from_frame(self, frame: pl.DataFrame, source: str = "the input") -> dict[str, np.ndarray]:
        """ONNX feeds ([N, 1] per input) from a polars frame: numeric nulls become NaN, categorical nulls the
        training side's missing category."""
        self.check_columns(frame.columns, source)
        feeds: dict[str, np.ndarray] = {}
        for item in self.inputs:
            series = frame.get_column(item.column)
            if not _acceptable(series.dtype, item):
                expected = "text or a category" if item.is_string else "numbers"
                raise InputError(
                    f"{source}: column {item.column!r} is {series.dtype}, expected {expected}; "
                    "fix the file or cast the column"
                )
            if item.name in self._absent:
                continue
            if item.is_string:
                series = series.cast(pl.String).fill_null(self.missing_category)
                encoder = self._encoders.get(item.name)
                values = encoder.encode(series) if encoder else series.to_numpy()
            else:
                values = _numeric_values(series, item, source)
            feeds[item.name] = values.reshape(-1, 1)
        if self._renamed and (self._plan.blocks or self._plan.matrices):
            # The plan's blocks and matrices read columns by ONNX name; a select of the inputs under those names
            # shares the frame's buffers (and drops any other column that might hold one of those names).
            frame = frame.select(pl.col(item.column).alias(item.name) for item in self.inputs)
        for block in self._plan.blocks:
            target = POLARS_DTYPES[block.dtype]
            feeds[block.name] = frame.select(pl.col(block.columns).cast(target)).to_numpy(order="c")
        for matrix in self._plan.matrices:
            feeds[matrix.name] = matrix.build(frame, self.missing_category)
        return feeds

    def feeds_from_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """ONNX feeds from row dicts, without building a frame (the low-latency path for single rows)."""
        if not rows:
            raise InputError(f"no rows to score for model {self.label}")
        required = self.feature_names
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InputError(f"row {index} is a {type(row).__name__}, expected a dict of column -> value")
            if len(row) < len(required) or not all(name in row for name in required):
                self.check_columns(list(row), f"row {index}")
        if self._renamed:
            # The plan reads rows by ONNX name (this path is per row already: one dict per row is its cost).
            rows = [{item.name: row[item.column] for item in self.inputs} for row in rows]
        feeds: dict[str, np.ndarray] = {}
        for block in self._plan.blocks:
            columns = block.columns
            try:
                feeds[block.name] = np.array([[row[c] for c in columns] for row in rows], dtype=block.dtype)
            except (TypeError, ValueError):
                self._name_bad_number(rows, set(columns))
                raise
        missing_category = self.missing_category
        for item in self._direct:
            values = [row[item.name] for row in rows]
            if item.is_string:
                texts = [category_text(value, missing_category) for value in values]
                encoder = self._encoders.get(item.name)
                array = encoder.encode_list(texts) if encoder else np.array(texts, dtype=object)
            else:
                array = _row_numbers(values, item)
            feeds[item.name] = array.reshape(-1, 1)
        for matrix in self._plan.matrices:
            try:
                feeds[matrix.name] = matrix.from_rows(rows, missing_category)
            except (TypeError, ValueError):
                self._name_bad_number(rows, matrix.columns)
                raise
        return feeds

    def _name_bad_number(self, rows: Sequence[Mapping[str, Any]], columns: set[str]) -> None:
        """Raise the InputError naming the row and column of a value that is not a number, if one is."""
        for item in self.inputs:
            if item.name in columns and not item.is_string:
                _row_numbers([row[item.name] for row in rows], item)


def _row_numbers(values: list[Any], item: ModelInput) -> np.ndarray:
    try:
        return np.array(values, dtype=NUMPY_DTYPES[item.dtype])
    except (TypeError, ValueError):
        index, value = next(
            (i, v) for i, v in enumerate(values) if not isinstance(v, int | float | bool | type(None))
        )
        raise InputError(
            f"row {index}: column {item.column!r} is {value!r}, expected a number (or None)"
        ) from None


def _acceptable(dtype: pl.DataType, item: ModelInput) -> bool:
    if item.is_string:
        return (
            dtype in (pl.String, pl.Categorical, pl.Null, pl.Boolean)
            or isinstance(dtype, pl.Enum)
            or (dtype.is_numeric())
        )
    return dtype.is_numeric() or dtype in (pl.Boolean, pl.Null)


def _numeric_values(series: pl.Series, item: ModelInput, source: str) -> np.ndarray:
    target = POLARS_DTYPES[item.dtype]
    if item.dtype == "int64" and series.null_count():
        raise InputError(
            f"{source}: column {item.column!r} has {series.null_count()} empty values but model input is int64; "
            "fill them before scoring"
        )
    values = series.cast(target).to_numpy()
    return values if values.dtype == NUMPY_DTYPES[item.dtype] else values.astype(NUMPY_DTYPES[item.dtype])


_CACHE: dict[tuple[str, int, str, int], ScoringModel] = {}
CACHE_SIZE = 16  # sessions kept per process (a daemon sees a few versions a week)
_CACHE_LOCK = threading.Lock()


def load_model(
    workspace: Workspace, name: str, version: int | None = None, *, threads: int | None = None
) -> ScoringModel:
    """Load a registered version (None = champion) after checking its sha256; sessions are cached per file hash."""
    threads = int(threads or workspace.settings.scoring.threads)
    model_version = Registry(workspace).get(name, version)
    onnx_bytes = model_version.read_onnx()
    # read_onnx() has just checked the bytes against this hash.
    key = (str(model_version.metadata["sha256"]), model_version.version, model_version.name, threads)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = ScoringModel(
                onnx_bytes,
                model_version.metadata,
                name=model_version.name,
                version=model_version.version,
                threads=threads,
                graph_cache=workspace.state_dir / GRAPH_CACHE,
            )
            _CACHE[key] = cached
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
    return cached
