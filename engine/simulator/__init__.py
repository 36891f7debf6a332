"""A seeded simulator of a realistic online shop's event log, with scenarios injected on a change day.

Scenario names and file formats load with the package; the simulator itself (numpy, polars) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.infra.lazy import lazy_attributes
from engine.simulator.scenarios import SCENARIOS

if TYPE_CHECKING:
    from engine.simulator.simulation import Simulation, simulate
    from engine.simulator.writer import write_simulation

FORMATS = ("csv", "tsv", "parquet", "jsonl")  # what write_simulation writes
__all__ = ["FORMATS", "SCENARIOS", "Simulation", "simulate", "write_simulation"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "Simulation": "engine.simulator.simulation",
        "simulate": "engine.simulator.simulation",
        "write_simulation": "engine.simulator.writer",
    },
)
