"""The stack's final estimator: logistic regression on the members' probabilities (scikit-learn's default) against
ours on their log-odds with non-negative weights (models/stacking.py), with HGB alone for reference.

Each table is trained through `models.training.train` (the same splits, candidates and metrics as `shopctl train`),
once per variant; test-split metrics are printed as a Markdown table and JSON. Tables:
- simulated shops (60 days, 1,500 sessions a day; one per --sim-seeds seed), built like `shopctl demo` does:
  simulate -> ingest -> features, session table split by time;
- UCI online shoppers (`../shared/datasets/online_shoppers_intention.csv`, if present), three stratified splits.

Usage: python bench/bench_stack_quality.py [--sim-seeds 7,3] [--uci-seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import TrainingConfig  # noqa: E402
from engine.features import build_features, session_spec  # noqa: E402
from engine.ingest import ingest_files  # noqa: E402
from engine.simulator import simulate, write_simulation  # noqa: E402
from engine.workspace import init_workspace  # noqa: E402
from models.tables import load_table  # noqa: E402
from models.training import train  # noqa: E402

UCI = ROOT.parent / "shared" / "datasets" / "online_shoppers_intention.csv"
METRICS = ("log_loss", "roc_auc", "pr_auc", "brier", "ece")


def simulated_sessions(seed: int, folder: Path) -> Any:
    import polars as pl

    workspace, _ = init_workspace(folder / f"sim{seed}")
    events = folder / f"sim{seed}.parquet"
    write_simulation(simulate(60, seed=seed, start="2026-01-01", sessions_per_day=1500), events)
    ingest_files(workspace, [events])
    build_features(workspace)
    return pl.read_parquet(workspace.features_dir / "sessions.parquet")


def run_variants(label: str, frame: Any, spec: Any, config: TrainingConfig) -> dict[str, dict[str, float]]:
    import models.stacking as stacking

    rows: dict[str, dict[str, float]] = {}
    log_odds = stacking.LogitLogisticRegression
    for variant in ("probabilities", "log-odds"):
        from sklearn.linear_model import LogisticRegression

        # models.candidates imports the final estimator's class at call time: swap it for the stock one.
        stacking.LogitLogisticRegression = LogisticRegression if variant == "probabilities" else log_odds
        try:
            started = time.perf_counter()
            # HGB alone once, beside the first variant (the same seeded fit either way).
            candidates = ["hgb", "stack"] if variant == "probabilities" else ["stack"]
            result = train(frame, spec, config.model_copy(update={"candidates": candidates}))
        finally:
            stacking.LogitLogisticRegression = log_odds
        rows[f"stack on {variant}"] = {m: result.candidates["stack"]["test"][m] for m in METRICS}
        if "hgb" in candidates:
            rows["hgb"] = {m: result.candidates["hgb"]["test"][m] for m in METRICS}
        print(
            f"  {label}: stack on {variant} trained in {time.perf_counter() - started:.0f}s", file=sys.stderr
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-seeds", default="7,3")
    parser.add_argument("--uci-seeds", default="0,1,2")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    config = TrainingConfig(candidates=["hgb", "stack"])
    with tempfile.TemporaryDirectory() as temp:
        for seed in [int(s) for s in args.sim_seeds.split(",") if s]:
            frame = simulated_sessions(seed, Path(temp))
            results[f"sim{seed}"] = run_variants(f"sim{seed}", frame, session_spec(), config)
    if UCI.exists():
        for seed in [int(s) for s in args.uci_seeds.split(",") if s]:
            uci_config = TrainingConfig(candidates=["hgb", "stack"], seed=seed)
            frame, spec = load_table(UCI, "Revenue", uci_config)
            results[f"uci{seed}"] = run_variants(f"uci{seed}", frame, spec, uci_config)
    else:
        print(f"  note: {UCI} absent; UCI tables skipped", file=sys.stderr)
    print("| table | model | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for table, rows in results.items():
        for model, metrics in rows.items():
            print(f"| {table} | {model} | " + " | ".join(f"{metrics[m]:.4f}" for m in METRICS) + " |")
    print(json.dumps({"command": " ".join(["python", *sys.argv]), "results": results}, indent=1))


if __name__ == "__main__":
    main()
