"""Benchmark: does the KPI check catch a halved funnel step, at which volume, and how often does it cry wolf?

For each volume (sessions a day) and window (1d, 7d) the simulator writes a shop; `run_monitor` is then run for
every window in order, as the daemon would (so earlier verdicts are stored and a flagged window stays out of
later baselines). Scenarios:

- `stable`: every judged window is a chance for a false alert (a window whose KPI rows raise any kpi-* alert).
- `payment_failure`: checkout → purchase keeps 45% on every device for 14 days from the change day; reported:
  the first window flagging `funnel:checkout->purchase overall`, how many incident windows were flagged, and
  the mean number of checkouts per window (the issue asks for detection where ≥ ~40 sessions reach the step).

    python bench/bench_kpi_detection.py                # 30, 150 and 1,500 sessions/day; about 10 minutes
    python bench/bench_kpi_detection.py --volumes 150  # one volume

Measured in-process (the monitor's statistics, not the CLI's start-up): no timings are printed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from engine.events import commit_events
from engine.monitoring.run import run_monitor
from engine.simulator import simulate
from engine.workspace import init_workspace

# A Monday about 200 days back: recent enough that the store's retention (`[monitor] retention_days`) keeps every
# stored verdict, which the baseline exclusion reads back.
_BACK = date.today() - timedelta(days=200)
START = _BACK - timedelta(days=_BACK.weekday())
STEP = "funnel:checkout->purchase"


def _shop(root: Path, scenario: str, days: int, volume: float, change: date | None, seed: int):
    ws, _ = init_workspace(root)
    sim = simulate(
        days, seed=seed, scenario=scenario, start=START, sessions_per_day=volume, scenario_day=change
    )
    commit_events(ws, sim.events, f"sim-{scenario}")
    return ws


def _kpi_rows(payload: dict) -> list[dict]:
    return next((c["metrics"] for c in payload["checks"] if c["name"] == "kpi"), [])


def _replay(ws, window_days: int, first_end: date, windows: int) -> list[dict]:
    """run_monitor for `windows` consecutive windows whose first ends on first_end; the payloads in order."""
    payloads = []
    for index in range(windows):
        end = first_end + timedelta(days=index * window_days)
        payloads.append(run_monitor(ws, window=f"{window_days}d", at=end).to_dict())
    return payloads


def _kpi_alerting(payload: dict) -> bool:
    return any(item["rule"].startswith("kpi") for item in payload["firing"])


def measure(volume: float, window_days: int, root: Path, seed: int) -> dict:
    warmup = (
        4 * 7
    )  # four baseline weeks: the same weekday for daily windows, the four weeks before for weekly
    quiet_windows = 60 if window_days == 1 else 12
    stable_days = warmup + quiet_windows * window_days
    stable = _shop(root / f"stable-{volume}-{window_days}", "stable", stable_days, volume, None, seed)
    stable_runs = _replay(stable, window_days, START + timedelta(days=warmup + window_days), quiet_windows)
    false_alerts = sum(_kpi_alerting(p) for p in stable_runs)
    judged = sum(
        row["status"] != "skipped"
        for p in stable_runs
        for row in _kpi_rows(p)
        if row["metric"] == STEP and row["scope"] == "overall"
    )

    change = START + timedelta(days=warmup)
    incident_windows = 14 // window_days
    days = warmup + 14 + 2 * window_days
    failing = _shop(root / f"failure-{volume}-{window_days}", "payment_failure", days, volume, change, seed)
    runs = _replay(failing, window_days, change + timedelta(days=window_days), incident_windows)
    step_rows = [
        next((r for r in _kpi_rows(p) if r["metric"] == STEP and r["scope"] == "overall"), None) for p in runs
    ]
    flagged = [row is not None and row["status"] == "warning" for row in step_rows]
    # The step's alert is open in a window when it fires or holds by hysteresis ([alerts] resolve_z).
    alert_open = [
        any(item["metric"] == STEP and item["scope"] == "overall" for item in p["firing"]) for p in runs
    ]
    trials = [row["detail"].get("denominator") for row in step_rows if row]
    checkouts = [t for t in trials if isinstance(t, int | float)]
    return {
        "volume": volume,
        "window": f"{window_days}d",
        "checkouts_per_window": round(sum(checkouts) / len(checkouts)) if checkouts else None,
        "first_alert": (flagged.index(True) + 1) if any(flagged) else None,
        "incident_windows_flagged": f"{sum(flagged)}/{incident_windows}",
        "incident_windows_alert_open": f"{sum(alert_open)}/{incident_windows}",
        "statuses": [row["status"] if row else "-" for row in step_rows],
        "quiet_windows": quiet_windows,
        "false_alert_windows": false_alerts,
        "quiet_step_judged": f"{judged}/{quiet_windows}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volumes", type=float, nargs="+", default=[30, 150, 1500])
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 7], help="window lengths in days")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kpi-detection-"))
    try:
        print(
            "| sessions/day | window | checkouts/window | first alert (window) | incident windows flagged "
            "| incident windows with the alert open | quiet windows | false-alert windows "
            "| step judged in quiet windows |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for volume in args.volumes:
            for window_days in args.windows:
                row = measure(volume, window_days, root, args.seed)
                first = row["first_alert"] if row["first_alert"] is not None else "never"
                print(
                    f"| {volume:g} | {row['window']} | {row['checkouts_per_window']} | {first} "
                    f"| {row['incident_windows_flagged']} ({' '.join(row['statuses'])}) "
                    f"| {row['incident_windows_alert_open']} | {row['quiet_windows']} "
                    f"| {row['false_alert_windows']} | {row['quiet_step_judged']} |",
                    flush=True,
                )
        print(
            f"\nsimulation starts {START.isoformat()}; command: python bench/bench_kpi_detection.py --volumes {' '.join(f'{v:g}' for v in args.volumes)} "
            f"--windows {' '.join(map(str, args.windows))} --seed {args.seed}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
