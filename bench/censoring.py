"""Calibration for the leads open tonight when wins take longer than losses.

For each seed: generate a training world whose wins take ``--win-cycle-scale`` times longer
than the default (the recently closed leads are then mostly quick losses), optionally with an
inflow that grows over the history (``--growth``: early leads kept with probability
1 - growth, the latest with 1); train as of its export date; score the leads open at the
export date of another world of the same kind; compare with the outcomes the generator knows
they later had. Prints per-seed rows and the median and spread (min-max) over the seeds.

    .venv/bin/python bench/censoring.py [--seeds 5] [--win-cycle-scales 3 8] [--growth 0.8]

Writes its tables into docs/results.md (block ``censoring``) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from provenance import published, stamp

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
    parser.add_argument("--win-cycle-scales", type=float, nargs="+", default=[3.0, 8.0])
    parser.add_argument("--growth", type=float, default=0.8)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    config = Config.model_validate({"backtest": {"folds": 0}})
    start = time.perf_counter()
    tables = {scale: world_rows(args, config, scale) for scale in args.win_cycle_scales}
    with published("censoring", not args.no_write):
        print(
            f"{stamp(time.perf_counter() - start)}. Inflow growth {args.growth:g}; "
            f"{args.train_leads:,} training leads; open leads of a {args.holdout_leads:,}-lead "
            "world scored at its export date, judged against their outcomes: won within the "
            "model's stated horizon of the export date (H, days)."
        )
        for scale, rows in tables.items():
            print(f"\nWins take {scale:g}x longer than by default:\n")
            print(
                "| seed | open leads | H | ROC AUC | ECE | ECE, baseline "
                "| SQL / MQL / unqualified win rate |"
            )
            print("|---:|---:|---:|---:|---:|---:|---|")
            for seed, n, horizon, auc, ece, base, rates in rows:
                shown = " / ".join(f"{rates[t]:.0%}" for t in ("SQL", "MQL", "unqualified"))
                print(
                    f"| {seed} | {n:,} | {horizon:g} | {auc:.3f} | {ece:.4f} | {base:.4f} "
                    f"| {shown} |"
                )
            eces = np.array([r[4] for r in rows])
            print(
                f"| median (min-max) | | | {np.median([r[3] for r in rows]):.3f} | "
                f"**{np.median(eces):.4f}** ({eces.min():.4f}-{eces.max():.4f}) | | |"
            )


def world_rows(args: argparse.Namespace, config: Config, scale: float) -> list[tuple]:
    """Per seed: (seed, open leads, horizon, ROC AUC, ECE, baseline ECE, tier win rates)."""
    rows = []
    for seed in range(1, args.seeds + 1):
        train = growing(
            generate(args.train_leads, seed=seed, win_cycle_scale=scale), args.growth, seed
        )
        holdout = growing(
            generate(args.holdout_leads, seed=100 + seed, win_cycle_scale=scale), args.growth, seed
        )
        report = holdout_quality(train, holdout, config)
        rows.append((seed, report["open_leads"], report["horizon_days"], report["model"]["roc_auc"],
                     report["model"]["ece"], report["baseline"]["ece"],
                     report["tier_win_rates"]))  # fmt: skip
        print(f"wins {scale:g}x, seed {seed}: ECE {report['model']['ece']:.4f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
