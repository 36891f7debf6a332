"""CDNOW anchor for customer segments: ingest the master file with the `transactions` preset, build segments
as of 1997-10-01 (calibration = purchases through 1997-09-30, holdout = everything after), then print the
holdout repurchase rate per R, F and M score and per segment, and the ROC AUC of a logistic model on R+F+M.

    python bench/cdnow_segments.py /path/to/CDNOW_master.txt [--workspace DIR]

The CDNOW master file ships inside the `lifetimes` wheel (lifetimes/datasets/CDNOW_master.txt):
    pip download lifetimes --no-deps -d /tmp/lt && unzip -o /tmp/lt/Lifetimes-*.whl 'lifetimes/datasets/*' -d /tmp/lt
The AUCs are out-of-fold (5-fold stratified, seeded) and measured in-process on the parquet the CLI wrote.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

AS_OF = "1997-10-01"


def run(*args: str) -> str:
    command = ["shopctl", *args]
    print("$ " + " ".join(command), file=sys.stderr)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("master", type=Path)
    parser.add_argument("--workspace", type=Path, default=None)
    options = parser.parse_args()
    workspace = options.workspace or Path(tempfile.mkdtemp(prefix="shopctl-cdnow-"))
    if not (workspace / "config.toml").exists():
        run("init", str(workspace))
    ingest = json.loads(
        run("ingest", str(options.master), "--preset", "transactions", "-w", str(workspace), "--json")
    )
    build = json.loads(run("segments", "build", "--as-of", AS_OF, "-w", str(workspace), "--json"))
    show = json.loads(run("segments", "show", "-w", str(workspace), "--json"))

    import numpy as np
    import polars as pl
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = pl.read_parquet(build["path"])
    label = table["repurchased"].to_numpy()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

    def auc(columns: list[str], log: bool = False) -> float:
        matrix = table.select(columns).to_numpy().astype(float)
        if log:
            matrix = np.log1p(matrix)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        scores = cross_val_predict(model, matrix, label, cv=folds, method="predict_proba")[:, 1]
        return float(roc_auc_score(label, scores))

    print(
        f"rows read {ingest['rows_read']:,}, stored {ingest['rows_stored']:,}, duplicates {ingest['rows_duplicate']:,}"
    )
    print(
        f"customers {build['users']:,}, calibration orders {build['orders']:,}, holdout repurchase rate {show['repurchase_rate']:.1%}"
    )
    print("\nholdout repurchase rate by score (customers)")
    print("| score | R | F | M |\n|---|---|---|---|")
    rates = show["repurchase_by_score"]
    for score in map(str, range(1, 6)):
        cells = []
        for column in ("r_score", "f_score", "m_score"):
            cell = rates[column].get(score)
            cells.append(f"{cell['repurchase_rate']:.1%} ({cell['users']:,})" if cell else "—")
        print(f"| {score} | " + " | ".join(cells) + " |")
    print(
        "\n| segment | customers | share | mean recency (days) | mean orders | mean spend | revenue share | holdout repurchase |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in show["segments"]:
        print(
            f"| {row['segment']} | {row['users']:,} | {row['share']:.1%} | {row['recency_days']:.0f} | "
            f"{row['frequency']:.2f} | {row['monetary']:.2f} | {row['revenue_share']:.1%} | {row['repurchase_rate']:.1%} |"
        )
    best = max(show["segments"], key=lambda row: row["repurchase_rate"])
    worst = min(show["segments"], key=lambda row: row["repurchase_rate"])
    print(
        f"\nbest/worst segment: {best['segment']} {best['repurchase_rate']:.1%} / {worst['segment']} "
        f"{worst['repurchase_rate']:.1%} = {best['repurchase_rate'] / worst['repurchase_rate']:.1f}x"
    )
    print(f"ROC AUC, logistic on r_score+f_score+m_score: {auc(['r_score', 'f_score', 'm_score']):.3f}")
    print(
        f"ROC AUC, logistic on log1p(recency_days, frequency, monetary): {auc(['recency_days', 'frequency', 'monetary'], log=True):.3f}"
    )
    print(
        f"ROC AUC, logistic on recency_days+frequency+monetary: {auc(['recency_days', 'frequency', 'monetary']):.3f}"
    )
    print(f"clusters: k = {build['k']}, silhouettes {build['silhouettes']}")
    for cluster in build["clusters"]:
        print(
            f"  {cluster['cluster']}: {cluster['users']:,} ({cluster['share']:.1%}) {cluster['description']}"
        )
    print(f"\ncommand: python bench/cdnow_segments.py {options.master}")


if __name__ == "__main__":
    main()
