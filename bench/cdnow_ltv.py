"""CDNOW lifetime-value table on the 39/39-week split (calibration 1997-01-01..1997-09-30, holdout 39 weeks after):
per model the Spearman rank correlation and MAE of predicted vs holdout spend, and the ROC AUC for "buys again".

    python bench/cdnow_ltv.py /path/to/CDNOW_master.txt [--workspace DIR] [--train]

Ingest is the `shopctl ingest --preset transactions` command; the user table is engine.features.user_features at
the cutoff with a 273-day horizon (what `shopctl train spend --cutoff 1997-10-01 --horizon 39w` trains on).
Models, all in-process on that table:
- bgnbd_gg: BG/NBD + Gamma-Gamma (engine/customers/clv.py) fitted on calibration orders; CLV for spend,
  expected orders for AUC (no labels used).
- logistic_rfm: logistic regression on R+F+M values (log1p), 5-fold out-of-fold; AUC only.
- hgb: HistGradientBoosting on the user features (spend on log1p target), 5-fold out-of-fold.
- hgb_btyd: the same with p_alive, expected_orders, expected_order_value and clv as extra inputs.
--train also runs `shopctl train spend` as a subprocess and prints its own holdout figures (several minutes).
The CDNOW master file ships in the `lifetimes` sdist (lifetimes/datasets/CDNOW_master.txt):
    pip download --no-deps --no-binary :all: lifetimes -d /tmp/lt && tar xzf /tmp/lt/Lifetimes-*.tar.gz -C /tmp/lt
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

CUTOFF = datetime(1997, 10, 1, tzinfo=UTC)
HORIZON_DAYS = 273  # 39 weeks


def run(*args: str) -> str:
    command = ["shopctl", *args]
    print("$ " + " ".join(command), file=sys.stderr)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("master", type=Path)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--train", action="store_true", help="also run `shopctl train spend` (slow)")
    options = parser.parse_args()
    workspace = options.workspace or Path(tempfile.mkdtemp(prefix="shopctl-cdnow-ltv-"))
    if not (workspace / "config.toml").exists():
        run("init", str(workspace))
        run("ingest", str(options.master), "--preset", "transactions", "-w", str(workspace), "--json")

    import numpy as np
    import polars as pl
    from scipy.stats import spearmanr
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from engine.customers.clv import clv_table
    from engine.customers.rfm import orders
    from engine.events import scan_events
    from engine.features import user_features, user_spec
    from engine.workspace import Workspace

    ws = Workspace(workspace)
    events = scan_events(ws)
    users = user_features(events, CUTOFF, HORIZON_DAYS, ()).collect()
    lifetime, model = clv_table(orders(events, CUTOFF), CUTOFF, HORIZON_DAYS)
    assert model is not None
    users = users.join(lifetime, on="user_id", how="left")
    spend = users["future_spend"].to_numpy()
    bought = users["repurchased"].to_numpy()
    numeric = [name for name in user_spec((), "regression").numeric if name in users.columns]
    btyd = ["p_alive", "expected_orders", "expected_order_value", "clv"]

    def matrix(columns: list[str]) -> np.ndarray:
        return users.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()

    rows: list[tuple[str, float | None, float | None, float | None]] = []
    clv = users["clv"].to_numpy()
    rows.append(
        (
            "bgnbd_gg",
            float(spearmanr(spend, clv).statistic),
            float(np.abs(spend - clv).mean()),
            float(roc_auc_score(bought, users["expected_orders"].to_numpy())),
        )
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    rfm = np.log1p(matrix(["recency_days", "frequency", "monetary"]))
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    scores = cross_val_predict(logistic, rfm, bought, cv=folds, method="predict_proba")[:, 1]
    rows.append(("logistic_rfm", None, None, float(roc_auc_score(bought, scores))))
    for name, columns in (("hgb", numeric), ("hgb_btyd", numeric + btyd)):
        features = matrix(columns)
        regressor = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)
        log_spend = cross_val_predict(
            regressor, features, np.log1p(spend), cv=KFold(5, shuffle=True, random_state=0)
        )
        predicted = np.expm1(log_spend)
        classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
        probability = cross_val_predict(classifier, features, bought, cv=folds, method="predict_proba")[:, 1]
        rows.append(
            (
                name,
                float(spearmanr(spend, predicted).statistic),
                float(np.abs(spend - predicted).mean()),
                float(roc_auc_score(bought, probability)),
            )
        )
    print(
        f"customers {users.height:,}; holdout repurchase rate {bought.mean():.1%}; mean holdout spend {spend.mean():.2f}"
    )
    print(f"BG/NBD + Gamma-Gamma params (days): {json.dumps(model.params())}")
    print("\n| model | Spearman (holdout spend) | MAE | ROC AUC (buys again) |\n|---|---|---|---|")
    for name, rho, mae, auc in rows:
        cells = [f"{value:.3f}" if value is not None else "—" for value in (rho, mae, auc)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n(in-process figures; the hgb rows are 5-fold out-of-fold, seeded)")
    if options.train:
        payload = json.loads(
            run(
                "train", "spend", "--cutoff", "1997-10-01", "--horizon", "39w", "-w", str(workspace), "--json"
            )
        )
        for candidate, part in payload["candidates"].items():
            test = part["test"]
            print(f"train spend {candidate}: test Spearman {test['spearman']:.3f} MAE {test['mae']:.2f}")
        base = payload["baselines"]["bgnbd_gg"]["test"]
        print(f"train spend bgnbd_gg baseline: test Spearman {base['spearman']:.3f} MAE {base['mae']:.2f}")
    print(f"\ncommand: python bench/cdnow_ltv.py {options.master}{' --train' if options.train else ''}")


if __name__ == "__main__":
    main()
