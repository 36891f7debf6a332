"""Scoring with onnxruntime only: load a registered model (sha256-checked) and score rows, frames or files."""

from __future__ import annotations

from engine.scoring.model import ModelInput, ScoringModel, load_model, session_options
from engine.scoring.stream import FORMATS, score_file

__all__ = ["FORMATS", "ModelInput", "ScoringModel", "load_model", "score_file", "session_options"]
