"""What a person touches: the Typer CLI and the Textual TUI."""
