"""Order-risk detection on the simulator's order_fraud scenario: ROC AUC and PR AUC of each unsupervised detector.

What `shopctl train order_risk` does, in-process: the order table from the simulated events, a time split
60/20/20 (the detectors fit on the oldest 60%, which the fraud, starting two thirds in, does not reach), and
ROC AUC / PR AUC against the ground truth's fraud order ids on the newer 40% (validation + test), overall and per
kind of fraud. Scores are read through the exported ONNX file (onnxruntime), as `shopctl score` reads them.

    python bench/bench_order_risk.py [--days 60] [--sessions-per-day 1500] [--seeds 7,11,23]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from engine.features.orders import order_features, order_spec
from engine.simulator import simulate
from engine.simulator.fraud import KINDS, fraud_labels
from models.anomaly import DETECTORS, detector_onnx, feature_matrix, fit_detector
from models.onnx_export import OnnxPredictor, input_metadata
from models.splits import split_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--sessions-per-day", type=float, default=1500)
    parser.add_argument("--seeds", default="7,11,23")
    args = parser.parse_args()
    spec = order_spec()
    print(f"command: python bench/bench_order_risk.py {' '.join(sys.argv[1:])}".rstrip())
    header = "| seed | orders | fraud (eval) | detector | ROC AUC | PR AUC | " + " | ".join(
        f"ROC {kind}" for kind in KINDS
    )
    print(header + " |")
    print("|" + "---|" * (header.count("|")))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in DETECTORS}
    for seed in (int(part) for part in args.seeds.split(",")):
        sim = simulate(args.days, seed=seed, scenario="order_fraud", sessions_per_day=args.sessions_per_day)
        orders = fraud_labels(order_features(sim.events.lazy()).collect(), sim.ground_truth)
        split = split_rows(orders, spec, (0.6, 0.2, 0.2), seed)
        evaluated = np.concatenate([split.validation, split.test])
        labels = orders["is_fraud"].to_numpy()[evaluated]
        kinds = sim.ground_truth["fraud_order_kinds"]
        order_ids = orders["order_id"].to_numpy()[evaluated]
        features = feature_matrix(orders, spec)
        for name in DETECTORS:
            detector = fit_detector(name, features[split.train], seed)
            predictor = OnnxPredictor(
                detector_onnx(name, detector, spec), input_metadata(spec), {"name": "risk"}
            )
            scores = predictor.predict(orders[evaluated])
            roc, pr = roc_auc_score(labels, scores), average_precision_score(labels, scores)
            results[name].append((roc, pr))
            per_kind = []
            for kind in KINDS:
                positive = np.array([kinds.get(order) == kind for order in order_ids])
                keep = positive | (labels == 0)
                per_kind.append(
                    f"{roc_auc_score(positive[keep], scores[keep]):.3f}" if positive.any() else "-"
                )
            print(
                f"| {seed} | {orders.height} | {int(labels.sum())} | {name} | {roc:.3f} | {pr:.3f} | "
                + " | ".join(per_kind)
                + " |"
            )
    for name, values in results.items():
        roc = np.mean([value[0] for value in values])
        pr = np.mean([value[1] for value in values])
        print(f"mean {name}: ROC AUC {roc:.3f}, PR AUC {pr:.3f} over {len(values)} seeds")


if __name__ == "__main__":
    main()
