"""Scoring with onnxruntime only: load a registered model (sha256-checked) and score rows, frames or files.

The format list loads with the package; onnxruntime, numpy and polars on first use (engine.infra.lazy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.infra.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.scoring.model import ModelInput, ScoringModel, load_model, session_options
    from engine.scoring.stream import score_file

FORMATS = ("parquet", "csv", "jsonl")  # what score_file reads and writes
__all__ = ["FORMATS", "ModelInput", "ScoringModel", "load_model", "score_file", "session_options"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "ModelInput": "engine.scoring.model",
        "ScoringModel": "engine.scoring.model",
        "load_model": "engine.scoring.model",
        "session_options": "engine.scoring.model",
        "score_file": "engine.scoring.stream",
    },
)
