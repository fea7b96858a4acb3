"""Bank marketing as an export of leads decided within a day (issue 16, point 1).

Each contact gets a creation time in row order, spread evenly from May 2008 to November
2010, and is closed one day later; `duration` is dropped (known only after the call). The
first 80% of rows are the training export, the last 20% are scored as open leads (outcome
and close time emptied) and judged against their real outcomes. Everything runs through the
CLI as a new user would: `inspect --write-config` -> `train --config` -> `score`, no edits
(but the LightGBM seed, run over ``--seeds`` seeds: the median and spread are printed). Also
run as an export with no times at all, its rows in time order. Writes the table into
docs/results.md (block ``bank_same_day``) unless ``--no-write``.

    .venv/bin/python bench/bank_same_day.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import published, stamp
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "data" / "external" / "bank-marketing" / "bank-additional-full.csv"
LEADSCORE = str(Path(sys.executable).with_name("leadscore"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)
    found = {}
    for timestamps in (True, False):
        train, held, truth = export(timestamps)
        found[timestamps] = [forward_auc(train, held, truth, seed) for seed in seeds]
    with published("bank_same_day", not args.no_write):
        print(
            f"{stamp()}. Bank marketing as leads decided within a day, no `duration`, starter "
            "config, no edits but the LightGBM seed; forward ROC AUC on the last 20% (plain "
            "LightGBM on the same split: 0.658).\n"
        )
        print("| export | " + " | ".join(f"seed {s}" for s in seeds) + " | median (min-max) |")
        print("|---" + "|---:" * (args.seeds + 1) + "|")
        for timestamps, aucs in found.items():
            what = "created + closed a day later" if timestamps else "no timestamps, row order"
            cells = " | ".join(f"{a:.3f}" for a in aucs)
            summary = f"**{np.median(aucs):.3f}** ({min(aucs):.3f}-{max(aucs):.3f})"
            print(f"| {what} | {cells} | {summary} |")


def export(timestamps: bool) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The training export (first 80% of rows), the held-out leads as open leads (outcome
    and close time emptied) and their real outcomes."""
    frame = pd.read_csv(BANK, sep=";").drop(columns=["duration"])
    n = len(frame)
    if timestamps:
        start, stop = pd.Timestamp("2008-05-01"), pd.Timestamp("2010-11-30")
        created = pd.DatetimeIndex(start + (stop - start) * (np.arange(n) / n))
        frame.insert(0, "created", created.strftime("%Y-%m-%dT%H:%M:%SZ"))
        closed = (created + pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        frame.insert(1, "closed", closed)
    cut = int(n * 0.8)
    train, held = frame.iloc[:cut].copy(), frame.iloc[cut:].copy()
    truth = (held["y"] == "yes").to_numpy(dtype=int)
    held["y"] = ""
    if timestamps:
        held["closed"] = ""
    return train, held, truth


def forward_auc(train: pd.DataFrame, held: pd.DataFrame, truth: np.ndarray, seed: int) -> float:
    """Forward ROC AUC on the held-out rows of a model trained by the CLI at one seed."""
    with tempfile.TemporaryDirectory(prefix="bank-same-day-") as tmp:
        work = Path(tmp)
        train.to_csv(work / "train.csv", index=False)
        held.to_csv(work / "held.csv", index=False)
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work}/mlflow.db")

        def run(*args: str) -> int:
            done = subprocess.run(
                [LEADSCORE, *args, "-q"], cwd=work, env=env, capture_output=True, text=True
            )
            if done.returncode not in (0, 3):  # 3: drift alarm, scores written
                print(done.stderr[-2000:])
                raise SystemExit(f"leadscore {args[0]} exited {done.returncode}")
            return done.returncode

        run("inspect", "--leads", "train.csv", "--write-config", "starter.yaml")
        with open(work / "starter.yaml", "a") as starter_file:
            starter_file.write(f"\nlightgbm: {{seed: {seed}}}\n")
        run("train", "--leads", "train.csv", "--config", "starter.yaml")
        run("score", "--leads", "held.csv", "--config", "starter.yaml", "--as-of", "2011-01-01",
            "--output", "scores.csv")  # fmt: skip
        scores = pd.read_csv(work / "scores.csv", dtype={"lead_id": str})
        starter = (work / "starter.yaml").read_text()
    by_row = "row_number_as_lead_id: true" in starter
    ids = [str(i + 1) for i in range(len(held))] if by_row else None
    if ids is None:
        raise SystemExit("the starter config chose an id column; this bench expects row numbers")
    p = scores.set_index("lead_id")["probability"].reindex(ids).to_numpy()
    scored = ~np.isnan(p)
    auc = float(roc_auc_score(truth[scored], p[scored]))
    print(f"seed {seed}: {int(scored.sum()):,} of {len(held):,} scored, ROC AUC {auc:.3f}")
    return auc


if __name__ == "__main__":
    main()
