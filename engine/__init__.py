"""shopctl's engine: ingest, features, simulator, scoring, monitoring, store and scheduling.

A headless library: the CLI, the TUI, the daemon and a user's own scripts all call it the same way.
It never imports textual, typer or rich.
"""

from __future__ import annotations

__version__ = "0.1.0"
