"""Calibration for the leads open tonight when wins take longer than losses.

For each seed: generate a training world whose wins take ``--win-cycle-scale`` times longer
than the default (the recently closed leads are then mostly quick losses), optionally with an
inflow that grows over the history (``--growth``: early leads kept with probability
1 - growth, the latest with 1); train as of its export date; score the leads open at the
export date of another world of the same kind; compare with the outcomes the generator knows
they later had. Prints per-seed rows and the median and spread (min-max) over the seeds, as a
Markdown table for the README.

    .venv/bin/python bench/censoring.py [--seeds 5] [--win-cycle-scale 3] [--growth 0.8]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numpy as np

from leadscore.pipelines.config import Config
from leadscore.pipelines.evaluation import holdout_quality
from leadscore.pipelines.synthetic import World, generate


def growing(world: World, growth: float, seed: int) -> World:
    """The world with an inflow that grows over its history: a lead created at the share t of
    the history is kept with probability (1 - growth) + growth * t."""
    if growth <= 0:
        return world
    created = world.leads["created_at"]
    t = ((created - created.min()) / (created.max() - created.min())).to_numpy(dtype=float)
    keep = np.random.default_rng(seed).random(len(t)) < (1 - growth) + growth * t
    ids = set(world.leads["lead_id"][keep])

    def subset(frame):  # type: ignore[no-untyped-def]
        return frame[frame["lead_id"].isin(ids)].reset_index(drop=True)

    return World(subset(world.leads), subset(world.activities), subset(world.truth), world.now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--train-leads", type=int, default=10_000)
    parser.add_argument("--holdout-leads", type=int, default=30_000)
    parser.add_argument("--win-cycle-scale", type=float, default=3.0)
    parser.add_argument("--growth", type=float, default=0.8)
    args = parser.parse_args()
    config = Config.model_validate({"backtest": {"folds": 0}})
    rows = []
    start = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        scale = args.win_cycle_scale
        train = growing(
            generate(args.train_leads, seed=seed, win_cycle_scale=scale), args.growth, seed
        )
        holdout = growing(
            generate(args.holdout_leads, seed=100 + seed, win_cycle_scale=scale), args.growth, seed
        )
        report = holdout_quality(train, holdout, config)
        rates = report["tier_win_rates"]
        rows.append((seed, report["open_leads"], report["model"]["roc_auc"], report["model"]["ece"],
                     report["baseline"]["ece"], rates))  # fmt: skip
        print(f"seed {seed}: ECE {report['model']['ece']:.4f}", flush=True)
    seconds = time.perf_counter() - start
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"\ncommit `{commit}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs "
        f"({platform.machine()}), {seconds / 60:.0f} min. Wins take {args.win_cycle_scale:g}x "
        f"longer than by default; inflow growth {args.growth:g}; {args.train_leads:,} training "
        f"leads; open leads of a {args.holdout_leads:,}-lead world scored at its export date, "
        "judged against their eventual outcomes.\n"
    )
    print(
        "| seed | open leads | ROC AUC | ECE | ECE, baseline | SQL / MQL / unqualified win rate |"
    )
    print("|---:|---:|---:|---:|---:|---|")
    for seed, n, auc, ece, base, rates in rows:
        shown = " / ".join(f"{rates[t]:.0%}" for t in ("SQL", "MQL", "unqualified"))
        print(f"| {seed} | {n:,} | {auc:.3f} | {ece:.4f} | {base:.4f} | {shown} |")
    eces = np.array([r[3] for r in rows])
    print(
        f"| median (min-max) | | {np.median([r[2] for r in rows]):.3f} | {np.median(eces):.4f} "
        f"({eces.min():.4f}-{eces.max():.4f}) | | |"
    )


if __name__ == "__main__":
    main()
