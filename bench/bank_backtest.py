"""Bank marketing forward in time over LightGBM seeds (issue 4's setup and leadscore's
default), the figures of the README's "Forward in time on real data" table.

For each config and each LightGBM seed: `leadscore backtest` (5 folds of 10%, forward in
time) on the UCI bank marketing export; pooled and mean-over-folds ROC AUC and PR AUC of
LightGBM, the logistic baseline and the points rule. Prints a Markdown table of the median
and spread (min-max) over the seeds. The baseline and the points rule do not depend on the
seed. MLflow runs go to a throwaway store. Writes the table into docs/results.md (block
``bank_backtest``) unless ``--no-write``.

    .venv/bin/python bench/bank_backtest.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import published, stamp

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "data" / "external" / "bank-marketing" / "bank-additional-full.csv"
CONFIGS = {
    "every column but duration": ROOT / "configs" / "bank-marketing-all-columns.yaml",
    "default (period columns left out)": ROOT / "configs" / "bank-marketing.yaml",
}
MODELS = ("lightgbm", "baseline", "points")
METRICS = ("roc_auc", "roc_auc_fold_mean", "pr_auc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bank-backtest-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        from leadscore.pipelines.config import load_config
        from leadscore.pipelines.evaluation import backtest_job

        results: dict[str, dict[tuple[str, str], list[float]]] = {}
        for name, path in CONFIGS.items():
            found: dict[tuple[str, str], list[float]] = {}
            for seed in range(1, args.seeds + 1):
                config = load_config(path)
                config = config.model_copy(
                    update={"lightgbm": config.lightgbm.model_copy(update={"seed": seed})}
                )
                overall = backtest_job(BANK, None, config, False).history.overall
                table = overall.set_index("model")
                for model in MODELS:
                    for metric in METRICS:
                        found.setdefault((model, metric), []).append(
                            float(table.loc[model, metric])
                        )
                print(
                    f"{name}, seed {seed}: LightGBM pooled ROC AUC "
                    f"{found[('lightgbm', 'roc_auc')][-1]:.3f}",
                    flush=True,
                )
            results[name] = found
    with published("bank_backtest", not args.no_write):
        print(
            f"{stamp(time.perf_counter() - start)}; LightGBM seeds 1-{args.seeds}: median "
            "(min-max).\n"
        )
        print("| setup, forward in time | metric | LightGBM | logistic baseline | points rule |")
        print("|---|---|---:|---:|---:|")
        for name, found in results.items():
            for metric in METRICS:
                cells = []
                for model in MODELS:
                    values = np.array(found[(model, metric)])
                    spread = f" ({values.min():.3f}-{values.max():.3f})" if np.ptp(values) else ""
                    cells.append(f"{np.median(values):.3f}{spread}")
                print(f"| {name} | {metric} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
