"""Model quality on held-out generated data, the way the model is used.

Train on one generated CRM world as of its export date; score the leads that are open at
that date in another world (a different seed); compare with the outcomes only the
generator knows. Prints a Markdown table for the README.

    .venv/bin/python bench/holdout_quality.py [--train-leads 20000] [--holdout-leads 100000]
"""

from __future__ import annotations

import argparse
import json
import time

from leadscore.pipelines.config import Config
from leadscore.pipelines.evaluation import holdout_quality
from leadscore.pipelines.synthetic import generate

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "precision_top10", "recall_top10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-leads", type=int, default=20_000)
    parser.add_argument("--train-seed", type=int, default=11)
    parser.add_argument("--holdout-leads", type=int, default=100_000)
    parser.add_argument("--holdout-seed", type=int, default=12)
    parser.add_argument("--json", action="store_true", help="Print the raw report as JSON.")
    args = parser.parse_args()
    start = time.perf_counter()
    report = holdout_quality(
        generate(args.train_leads, seed=args.train_seed),
        generate(args.holdout_leads, seed=args.holdout_seed),
        Config(),
    )
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps(report, indent=1, default=float))
        return
    print(
        f"Trained on {args.train_leads:,} generated leads (seed {args.train_seed}); scored the "
        f"{report['open_leads']:,} leads open at the export date of a {args.holdout_leads:,}-lead "
        f"world (seed {args.holdout_seed}); {seconds:.0f} s.\n"
    )
    print("| metric | LightGBM (calibrated) | logistic baseline |")
    print("|---|---:|---:|")
    for key in METRICS:
        print(f"| {key} | {report['model'][key]:.4f} | {report['baseline'][key]:.4f} |")
    rates, shares = report["tier_win_rates"], report["tier_shares"]
    print("\n| tier | share of open leads | realised win rate |")
    print("|---|---:|---:|")
    for tier in rates:
        print(f"| {tier} | {shares[tier]:.1%} | {rates[tier]:.1%} |")


if __name__ == "__main__":
    main()
