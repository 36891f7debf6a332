"""Plain-text renderings shared by the CLI and the TUI (no engine work, no heavy imports)."""
