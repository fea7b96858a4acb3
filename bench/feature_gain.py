"""Out-of-time quality of the current feature set on generated worlds (several seeds).

Trains the full recipe on 20,000-lead worlds and prints the test-period (most recent 20% of
closed leads) PR AUC and ROC AUC of LightGBM and of the logistic baseline. Run it at two
commits to compare feature sets; the README quotes the first version (commit 687a674, with
today's generator) against the current one.

    .venv/bin/python bench/feature_gain.py [--leads 20000] [--seeds 11 21 31]
"""

from __future__ import annotations

import argparse
import logging
import statistics

from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 21, 31])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(
        "| seed | features | LightGBM PR AUC | LightGBM ROC AUC "
        "| baseline PR AUC | baseline ROC AUC |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for seed in args.seeds:
        world = generate(args.leads, seed=seed)
        fitted = fit(prepare_tables(world.leads, world.activities, Config()), Config(), "bench")
        m, b = fitted.metrics, fitted.baseline_metrics
        rows.append((m["pr_auc"], m["roc_auc"], b["pr_auc"], b["roc_auc"]))
        n = len(fitted.model.spec.feature_names)
        print(f"| {seed} | {n} | {m['pr_auc']:.4f} | {m['roc_auc']:.4f} | "
              f"{b['pr_auc']:.4f} | {b['roc_auc']:.4f} |")  # fmt: skip
    means = [statistics.mean(r[i] for r in rows) for i in range(4)]
    print(f"| mean | | {means[0]:.4f} | {means[1]:.4f} | {means[2]:.4f} | {means[3]:.4f} |")


if __name__ == "__main__":
    main()
