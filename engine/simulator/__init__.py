"""A seeded simulator of a realistic online shop's event log, with scenarios injected on a change day."""

from __future__ import annotations

from engine.simulator.scenarios import SCENARIOS
from engine.simulator.simulation import Simulation, simulate
from engine.simulator.writer import FORMATS, write_simulation

__all__ = ["FORMATS", "SCENARIOS", "Simulation", "simulate", "write_simulation"]
