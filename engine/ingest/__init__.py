"""Event ingest: read users' files, map them onto the canonical schema, quarantine bad rows, commit to the store.

`ingest_files(ws, paths, options=None)` is the entry point the CLI, the daemon's inbox job and the demo call.
"""

from __future__ import annotations

from engine.ingest.options import IngestOptions
from engine.ingest.presets import PRESETS
from engine.ingest.run import IngestResult, ingest_files

__all__ = ["PRESETS", "IngestOptions", "IngestResult", "ingest_files"]
