"""shopctl's engine: ingest, features, simulator, scoring, monitoring, store and scheduling.

A headless library: the CLI, the TUI, the daemon and a user's own scripts all call it the same way.
It never imports textual, typer or rich. The calls a script needs are named here and load on first use
(engine.infra.lazy), so `import engine` stays light; docs/python-api.md shows them in one script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.infra.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.features.build import build_features
    from engine.ingest.run import ingest_files
    from engine.monitoring.run import run_monitor
    from engine.registry import Registry
    from engine.scoring.stream import score_file
    from engine.simulator import simulate, write_simulation
    from engine.train.retrain import retrain
    from engine.train.run import train_and_register
    from engine.workspace import init_workspace, open_workspace

__version__ = "0.1.0"
__all__ = [
    "Registry",
    "build_features",
    "ingest_files",
    "init_workspace",
    "open_workspace",
    "retrain",
    "run_monitor",
    "score_file",
    "simulate",
    "train_and_register",
    "write_simulation",
]
__getattr__ = lazy_attributes(
    __name__,
    {
        "Registry": "engine.registry",
        "build_features": "engine.features.build",
        "ingest_files": "engine.ingest.run",
        "init_workspace": "engine.workspace",
        "open_workspace": "engine.workspace",
        "retrain": "engine.train.retrain",
        "run_monitor": "engine.monitoring.run",
        "score_file": "engine.scoring.stream",
        "simulate": "engine.simulator",
        "train_and_register": "engine.train.run",
        "write_simulation": "engine.simulator",
    },
)
