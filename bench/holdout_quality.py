"""Model quality on held-out generated data, the way the model is used, over seeds.

For each seed k: train on one generated CRM world (seed 10 + 2k - 1, 11 for the first) as of
its export date; score the leads that are open at that date in another world (seed 10 + 2k);
compare with the outcomes only the generator knows. Prints Markdown tables of the median and
spread (min-max) over the seeds and writes them into docs/results.md (block
``holdout_quality``) unless ``--no-write``.

    .venv/bin/python bench/holdout_quality.py [--seeds 5] [--train-leads 20000]
        [--holdout-leads 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from provenance import published, stamp

from leadscore.pipelines.config import Config
from leadscore.pipelines.evaluation import holdout_quality
from leadscore.pipelines.synthetic import generate

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "precision_top10", "recall_top10")


def spread(values: list[float], form: str) -> str:
    array = np.array(values)
    return f"{np.median(array):{form}} ({array.min():{form}}-{array.max():{form}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--train-leads", type=int, default=20_000)
    parser.add_argument("--holdout-leads", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    start = time.perf_counter()
    reports = []
    for k in range(1, args.seeds + 1):
        reports.append(
            holdout_quality(
                generate(args.train_leads, seed=9 + 2 * k),
                generate(args.holdout_leads, seed=10 + 2 * k),
                Config(),
            )
        )
        print(f"seed pair {k}: ECE {reports[-1]['model']['ece']:.4f}", flush=True)
    opened = [r["open_leads"] for r in reports]
    with published("holdout_quality", not args.no_write):
        print(
            f"{stamp(time.perf_counter() - start)}. Trained on {args.train_leads:,} generated "
            f"leads; scored the {min(opened):,}-{max(opened):,} leads open at the export date "
            f"of a {args.holdout_leads:,}-lead world of another seed; median (min-max) over "
            f"{args.seeds} seed pairs.\n"
        )
        print("| metric | LightGBM (calibrated) | logistic baseline |")
        print("|---|---:|---:|")
        for key in METRICS:
            model = [r["model"][key] for r in reports]
            base = [r["baseline"][key] for r in reports]
            print(f"| {key} | {spread(model, '.4f')} | {spread(base, '.4f')} |")
        wins = sum(r["model"]["roc_auc"] > r["baseline"]["roc_auc"] for r in reports)
        print(f"\nLightGBM ranks better than the baseline in {wins} of {args.seeds} seed pairs.")
        print("\n| tier | share of open leads | realised win rate |")
        print("|---|---:|---:|")
        for tier in reports[0]["tier_win_rates"]:
            shares = [r["tier_shares"][tier] for r in reports]
            rates = [r["tier_win_rates"][tier] for r in reports]
            print(f"| {tier} | {spread(shares, '.1%')} | {spread(rates, '.1%')} |")


if __name__ == "__main__":
    main()
