"""CLI commands for 'train' (being built; see DEVELOPERS.md for the owner and contract)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
