"""Bank marketing as an export of leads decided within a day (issue 16, point 1).

Each contact gets a creation time in row order, spread evenly from May 2008 to November
2010, and is closed one day later; `duration` is dropped (known only after the call). The
first 80% of rows are the training export, the last 20% are scored as open leads (outcome
and close time emptied) and judged against their real outcomes. Everything runs through the
CLI as a new user would: `inspect --write-config` -> `train --config` -> `score`, no edits.

    .venv/bin/python bench/bank_same_day.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "data" / "external" / "bank-marketing" / "bank-additional-full.csv"
LEADSCORE = str(Path(sys.executable).with_name("leadscore"))


def main() -> None:
    frame = pd.read_csv(BANK, sep=";").drop(columns=["duration"])
    n = len(frame)
    start, stop = pd.Timestamp("2008-05-01"), pd.Timestamp("2010-11-30")
    created = pd.DatetimeIndex(start + (stop - start) * (np.arange(n) / n))
    frame.insert(0, "created", created.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.insert(1, "closed", (created + pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    cut = int(n * 0.8)
    train, held = frame.iloc[:cut].copy(), frame.iloc[cut:].copy()
    truth = (held["y"] == "yes").to_numpy(dtype=int)
    held["y"], held["closed"] = "", ""
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
    print(
        f"{int(scored.sum()):,} of {len(held):,} held-out contacts scored; forward ROC AUC on "
        f"the last 20%: {roc_auc_score(truth[scored], p[scored]):.3f} (plain LightGBM on the "
        "same split: 0.658)"
    )


if __name__ == "__main__":
    main()
