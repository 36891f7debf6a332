"""Event ingest: read users' files, map them onto the canonical schema, quarantine bad rows, commit to the store.

`ingest_files(ws, paths, options=None)` is the entry point the CLI, the daemon's inbox job and the demo call.
The presets load with the package; the rest (polars) on first use (engine.infra.lazy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.infra.lazy import lazy_attributes
from engine.ingest.presets import PRESETS

if TYPE_CHECKING:
    from engine.ingest.options import IngestOptions
    from engine.ingest.run import IngestResult, ingest_files

__all__ = ["PRESETS", "IngestOptions", "IngestResult", "ingest_files"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "IngestOptions": "engine.ingest.options",
        "IngestResult": "engine.ingest.run",
        "ingest_files": "engine.ingest.run",
    },
)
