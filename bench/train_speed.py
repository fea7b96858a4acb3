"""Retraining at scale: `leadscore train` on generated worlds (60,000 leads by default; add
1000000 for the large one), next to a bare reference measured in the same run.

- **job**: the console script in a fresh process, end to end (read, validate, training rows,
  leakage gate, evaluation, backtest, registered model, explanations, MLflow run and
  registration), Parquet in. Peak memory is the process's high-water mark (`ru_maxrss`); the
  breakdown is the job's own stages (logged to MLflow as `seconds_*`).
- **reference**: in a fresh process, pandas per-type activity counts per lead (one row per
  closed lead, all its activities before its close) and one LightGBM fit of 300 rounds on
  them with leadscore's booster settings: what a bare script does, without point-in-time
  snapshots, backtest, calibration, gate or reasons.

Worlds are cached under bench/.data (git-ignored). Writes its table into docs/results.md
(block ``train_speed``) unless ``--no-write``.

    .venv/bin/python bench/train_speed.py [--leads 60000 [1000000]] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import in_fresh_process, published, stamp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from features_speed import _world  # noqa: E402

REFERENCE_ROUNDS = 300
STAGES = ("read and validate", "training rows", "evaluation", "backtest", "registered model",
          "explanations")  # fmt: skip


def run_job(world: Path) -> dict[str, float]:
    """One `leadscore train` in a fresh process and a store of its own: wall time, peak
    RSS, the job's seconds per stage."""
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        command = [
            str(Path(sys.executable).with_name("leadscore")), "train", "-q",
            "--leads", str(world / "leads.parquet"),
            "--activities", str(world / "activities.parquet"),
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        start = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        stderr = process.stderr.read().decode() if process.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"train failed: {stderr[-2000:]}")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version = client.get_model_version_by_alias("lead-conversion", "champion")
        metrics = client.get_run(str(version.run_id)).data.metrics
    return {
        "seconds": seconds,
        "peak_gb": usage.ru_maxrss / 1e6,
        **{k: v for k, v in metrics.items() if k.startswith("seconds_")},
    }


def reference(world: Path) -> dict[str, float]:
    """Per-type counts per closed lead (pandas) and one LightGBM fit on them."""
    import lightgbm as lgb
    import pandas as pd

    from leadscore.models.booster import booster_params
    from leadscore.models.settings import LightGBMSettings

    start = time.perf_counter()
    leads = pd.read_parquet(world / "leads.parquet")
    activities = pd.read_parquet(world / "activities.parquet")
    closed = leads[leads["outcome"].isin(["won", "lost"])]
    acts = activities.merge(closed[["lead_id", "closed_at"]], on="lead_id")
    acts = acts[acts["occurred_at"] < acts["closed_at"]]
    counts = (
        acts.groupby(["lead_id", acts["activity_type"].str.strip().str.lower()])
        .size()
        .unstack(fill_value=0)
    )
    x = counts.reindex(closed["lead_id"], fill_value=0)
    y = (closed["outcome"] == "won").to_numpy(dtype=int)
    prepared = time.perf_counter() - start
    params = booster_params(LightGBMSettings())
    lgb.train(params, lgb.Dataset(x.to_numpy(dtype=float), y), num_boost_round=REFERENCE_ROUNDS)
    return {"seconds": time.perf_counter() - start, "prepare_seconds": prepared}


def child(kind: str, world: Path) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    import resource

    result = run_job(world) if kind == "job" else reference(world)
    if kind == "reference":
        result["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[60_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", choices=("job", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.world)
        return
    results: dict[int, dict[str, list[dict[str, float]]]] = {}
    for n in args.leads:
        world = _world(n, args.seed)
        results[n] = {"job": [], "reference": []}
        for _ in range(args.runs):
            for kind in ("reference", "job"):
                measured = in_fresh_process(__file__, "--child", kind, "--world", str(world))
                results[n][kind].append(measured)
                print(f"{n:,} leads, {kind}: {results[n][kind][-1]['seconds']:.1f} s", flush=True)

    def median(n: int, kind: str, key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in results[n][kind])

    with published("train_speed", not args.no_write):
        print(
            f"{stamp()}; median of {args.runs} run(s) each, generated worlds (seed {args.seed}).\n"
        )
        print("| leads | train (s) | peak RSS (GB) | reference (s) | reference RSS (GB) | ratio |")
        print("|---:|---:|---:|---:|---:|---:|")
        for n in args.leads:
            job, ref = median(n, "job", "seconds"), median(n, "reference", "seconds")
            print(
                f"| {n:,} | {job:.0f} | {median(n, 'job', 'peak_gb'):.1f} | {ref:.1f} | "
                f"{median(n, 'reference', 'peak_gb'):.1f} | {job / ref:.0f}x |"
            )
        found = {k for n in args.leads for r in results[n]["job"] for k in r if k != "seconds"}
        stages = [f"seconds_{s.replace(' ', '_')}" for s in STAGES]
        stages = [s for s in stages if s in found] + sorted(
            k for k in found if k.startswith("seconds_") and k not in stages
        )
        print("\n| stage (s) | " + " | ".join(f"{n:,} leads" for n in args.leads) + " |")
        print("|---|" + "---:|" * len(args.leads))
        for stage in stages:
            cells = " | ".join(f"{median(n, 'job', stage):.1f}" for n in args.leads)
            print(f"| {stage.removeprefix('seconds_').replace('_', ' ')} | {cells} |")


if __name__ == "__main__":
    main()
