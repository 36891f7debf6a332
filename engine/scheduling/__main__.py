"""`python -m engine.scheduling --workspace DIR`: the foreground daemon, as `shopctl daemon start` detaches it."""

from __future__ import annotations

import argparse
import logging
import sys

from engine.errors import ShopctlError
from engine.scheduling.daemon import run_foreground
from engine.workspace import open_workspace


def main(argv: list[str] | None = None) -> int:
    """Parse the workspace argument, log to stderr and run the daemon until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m engine.scheduling", description=__doc__)
    parser.add_argument("--workspace", "-w", default=None)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        return run_foreground(open_workspace(args.workspace))
    except ShopctlError as error:
        logging.getLogger("shopctl.daemon").error("%s", error)
        return error.exit_code


def configure_logging() -> None:
    """One timestamped line per event on stderr (journald or the background log file keeps it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
