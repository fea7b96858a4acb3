"""Local engine vs Spark (`local[2]`) on the same open-lead world from Parquet, with Spark's
own metrics from its event log (stage wall times, task run time, shuffle volumes, GC).

Both runs score the same leads with the same model (bench/score_speed.py's store and worlds,
generated and cached under bench/.data). On one 2-core machine Spark can only show its
overhead, not cluster scaling: see the README.

    .venv/bin/pip install -e ".[bench,spark]"
    .venv/bin/python bench/spark_speed.py [--leads 1000000] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from provenance import published, stamp

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
sys.path.insert(0, str(HERE))

from score_speed import _open_world, _store  # noqa: E402


def _run(command: list[str], uri: str) -> float:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise RuntimeError(done.stderr[-3000:])
    return seconds


def _event_metrics(folder: Path) -> dict[str, float]:
    """Stage wall time and summed task metrics from the newest Spark event log."""
    newest = sorted(folder.glob("*"), key=lambda p: p.stat().st_mtime)[-1]
    files = sorted(p for p in newest.rglob("*") if p.is_file()) if newest.is_dir() else [newest]
    lines = [line for f in files for line in f.read_text().splitlines() if line.startswith("{")]
    stages: dict[str, float] = {}
    totals = {"executor_run_s": 0.0, "gc_s": 0.0, "shuffle_write_gb": 0.0, "shuffle_read_gb": 0.0}
    for line in lines:
        event = json.loads(line)
        if event.get("Event") == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            name = info["Stage Name"].split(" at ")[0]
            wall = (info["Completion Time"] - info["Submission Time"]) / 1000
            stages[name] = stages.get(name, 0.0) + wall
        if event.get("Event") == "SparkListenerTaskEnd" and event.get("Task Metrics"):
            m = event["Task Metrics"]
            totals["executor_run_s"] += m.get("Executor Run Time", 0) / 1000
            totals["gc_s"] += m.get("JVM GC Time", 0) / 1000
            totals["shuffle_write_gb"] += (
                m.get("Shuffle Write Metrics", {}).get("Shuffle Bytes Written", 0) / 1e9
            )
            read = m.get("Shuffle Read Metrics", {})
            totals["shuffle_read_gb"] += (
                read.get("Remote Bytes Read", 0) + read.get("Local Bytes Read", 0)
            ) / 1e9
    return {**{f"stage: {k}": v for k, v in stages.items()}, **totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    uri = _store()
    world, as_of = _open_world(args.leads, args.seed)
    exe = str(Path(sys.executable).with_name("leadscore"))
    base = [exe, "score", "-q", "--force", "--leads", str(world / "leads.parquet"),
            "--activities", str(world / "activities.parquet"), "--as-of", as_of]  # fmt: skip
    events = DATA / "spark-events"
    events.mkdir(parents=True, exist_ok=True)
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir={events} "
        "--conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false "
        "pyspark-shell"
    )
    local, spark, metrics = [], [], []
    for _ in range(args.runs):
        local.append(_run([*base, "--output", str(DATA / "scores_local")], uri))
        spark_args = ["--output", str(DATA / "scores_spark"), "--engine", "spark"]
        spark.append(_run([*base, *spark_args, "--spark-master", "local[2]"], uri))
        metrics.append(_event_metrics(events))
    with published("spark_speed", not args.no_write):
        print(f"{stamp()}, Python {platform.python_version()}; {args.runs} runs, "
              f"medians; {args.leads:,} leads.")  # fmt: skip
        print("\n| engine | wall time (s) |\n|---|---:|")
        print(f"| local (chunked, one process) | {statistics.median(local):.1f} |")
        print(f"| Spark local[2] | {statistics.median(spark):.1f} |")
        print("\nSpark's own metrics (last run):")
        for key, value in metrics[-1].items():
            print(f"- {key}: {value:.2f}")
    print("Raw:", json.dumps({"local": local, "spark": spark, "metrics": metrics}))


if __name__ == "__main__":
    main()
