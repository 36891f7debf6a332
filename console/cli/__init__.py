"""The shopctl command line: one sub-module per command group, each a thin layer over the engine."""
