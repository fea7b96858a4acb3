"""The nightly job at scale: `leadscore score` on 1,000,000 open leads with ~23,000,000
activities from Parquet, on this machine, next to a bare-minimum reference measured in the
same run.

- **job**: the console script in a fresh process, end to end (registry, read, validate,
  features, predict, reasons, stage, publish, run record), Parquet in and out. Peak memory
  is the process's high-water mark (`ru_maxrss`); the breakdown is the job's own stopwatch
  (logged to MLflow as `seconds_*`).
- **reference**: in a fresh process, DuckDB aggregating per-type window counts from the
  same Parquet files, plus LightGBM `predict` and `predict(pred_contrib=True)` (exact
  TreeSHAP) on the job's own feature matrix.

The leads are the bench world's with their outcomes removed, so every lead is open. The
model is trained once on a 20,000-lead world of the same generator (another seed). Data and
model are cached under bench/.data (git-ignored).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/score_speed.py [--leads 1000000 --small 100000] [--runs 3]
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

from provenance import in_fresh_process, published, stamp

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
sys.path.insert(0, str(HERE))

from features_speed import _world, count_query  # noqa: E402


def _open_world(n_leads: int, seed: int) -> tuple[Path, str]:
    """The world's leads with outcomes removed (all open), its activities as they are."""
    import pandas as pd

    world = _world(n_leads, seed)
    folder = DATA / f"open_{n_leads}_{seed}"
    if not (folder / "leads.parquet").exists():
        folder.mkdir(parents=True, exist_ok=True)
        leads = pd.read_parquet(world / "leads.parquet")
        leads = leads.drop(columns=[c for c in ("outcome", "closed_at") if c in leads.columns])
        leads.to_parquet(folder / "leads.parquet")
        (folder / "activities.parquet").symlink_to(world / "activities.parquet")
    return folder, (world / "now.txt").read_text().strip()


def _store() -> str:
    """A champion trained on a 20,000-lead world (seed 11), trained once."""
    folder = DATA / "store"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    if not (folder / "mlflow.db").exists():
        from leadscore.pipelines.synthetic import generate, write_world

        folder.mkdir(parents=True, exist_ok=True)
        write_world(generate(20_000, seed=11), folder / "world")
        subprocess.run(
            [str(Path(sys.executable).with_name("leadscore")), "train", "-q",
             "--leads", str(folder / "world" / "leads.csv"),
             "--activities", str(folder / "world" / "activities.csv")],
            check=True, cwd=folder, env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        )  # fmt: skip
    return uri


def run_job(folder: Path, as_of: str, uri: str, out: Path) -> dict[str, float]:
    """One end-to-end run in a fresh process: wall time, peak RSS, the stopwatch."""
    from mlflow.tracking import MlflowClient

    command = [
        str(Path(sys.executable).with_name("leadscore")), "score", "-q", "--force",
        "--leads", str(folder / "leads.parquet"),
        "--activities", str(folder / "activities.parquet"),
        "--as-of", as_of, "--output", str(out),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise RuntimeError(f"score failed ({code}): {stderr[-2000:]}")
    import mlflow

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    experiment = client.get_experiment_by_name("leadscore-scoring")
    assert experiment is not None
    run = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`leadscore.job` = 'score'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    metrics = run.data.metrics
    return {
        "seconds": seconds,
        "peak_gb": usage.ru_maxrss / 1e6,
        "scored": metrics["scored"],
        **{k: v for k, v in metrics.items() if k.startswith("seconds_")},
    }


def reference(folder: Path, as_of: str, uri: str, contrib_rows: int) -> dict[str, float]:
    """DuckDB counts from the Parquet files; predict and pred_contrib on the job's matrix."""
    import duckdb
    import pandas as pd

    from leadscore.features.build import build_features
    from leadscore.features.snapshots import rows_as_of
    from leadscore.pipelines.config import Config
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.tables import prepare_tables

    os.environ["MLFLOW_TRACKING_URI"] = uri
    tracking.configure_tracking()
    model = tracking.load_model("models:/lead-conversion@champion").model
    spec = model.spec
    stamp = pd.Timestamp(as_of)

    query = count_query(spec, stamp, "read_parquet(?)")
    connection = duckdb.connect()
    connection.execute("SET threads=2")
    start = time.perf_counter()
    counts = connection.execute(query, [str(folder / "activities.parquet")]).df()
    duck = time.perf_counter() - start

    tables = prepare_tables(
        pd.read_parquet(folder / "leads.parquet"),
        pd.read_parquet(folder / "activities.parquet"),
        Config(),
    )
    features = build_features(
        tables.leads, tables.activities, rows_as_of(tables.leads["lead_id"], stamp), spec
    )
    x = model.matrix(features)
    del tables, features
    start = time.perf_counter()
    model.booster.predict(x, raw_score=True)
    predict = time.perf_counter() - start
    rows = min(contrib_rows, len(x)) if contrib_rows > 0 else len(x)
    start = time.perf_counter()
    model.booster.predict(x[:rows], pred_contrib=True)
    contrib = (time.perf_counter() - start) * len(x) / rows
    return {
        "duckdb": duck,
        "duckdb_rows": float(len(counts)),
        "predict": predict,
        "pred_contrib": contrib,
        "pred_contrib_rows_measured": float(rows),
        "matrix_rows": float(len(x)),
        "trees": float(model.booster.num_trees()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="the flat-memory check")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--contrib-rows",
        type=int,
        default=0,
        help="time pred_contrib on this many rows and scale up (0 = all rows)",
    )
    parser.add_argument("--child", choices=["reference"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--as-of")
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    uri = _store()
    if args.child:
        print(json.dumps(reference(args.folder, args.as_of, uri, args.contrib_rows)))
        return

    results: dict[str, list[dict[str, float]]] = {"job": [], "job_small": [], "reference": []}
    big, as_of = _open_world(args.leads, args.seed)
    small, small_as_of = _open_world(args.small, args.seed)
    out = DATA / "scores"
    for _ in range(args.runs):
        results["job_small"].append(run_job(small, small_as_of, uri, DATA / "scores_small"))
        results["job"].append(run_job(big, as_of, uri, out))
        results["reference"].append(
            in_fresh_process(__file__, "--child", "reference", "--folder", str(big),
                             "--as-of", as_of, "--contrib-rows", str(args.contrib_rows))
        )  # fmt: skip

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    job, job_small = results["job"], results["job_small"]
    leads = job[0]["scored"]
    ref_total = median("reference", "duckdb") + median("reference", "predict")
    ref_total += median("reference", "pred_contrib")
    with published("score_speed", not args.no_write):
        print(f"{stamp()}, Python {platform.python_version()}; {args.runs} runs each, medians.")
        print(f"{int(leads):,} open leads scored end to end from Parquet "
              f"(reference matrix: {int(results['reference'][0]['matrix_rows']):,} rows, "
              f"{int(results['reference'][0]['trees'])} trees).\n")  # fmt: skip
        print("| run | wall (s) | leads/s | peak RSS (GB) |")
        print("|---|---:|---:|---:|")
        small = int(job_small[0]["scored"])
        for kind, label in (("job", f"job, {int(leads):,} leads"),
                            ("job_small", f"job, {small:,} leads")):  # fmt: skip
            print(f"| {label} | {median(kind, 'seconds'):.1f} | "
                  f"{median(kind, 'scored') / median(kind, 'seconds'):,.0f} | "
                  f"{median(kind, 'peak_gb'):.2f} |")  # fmt: skip
        print("\n| job stage (1M) | seconds |")
        print("|---|---:|")
        for stage in ("read", "validate", "features", "predict", "reasons", "write", "publish"):
            print(f"| {stage} | {median('job', 'seconds_' + stage):.1f} |")
        print("\n| reference step | seconds |")
        print("|---|---:|")
        for key in ("duckdb", "predict", "pred_contrib"):
            print(f"| {key} | {median('reference', key):.1f} |")
        print(f"| total | {ref_total:.1f} |")
        reasons = median("job", "seconds_reasons")
        bare = median("reference", "predict")
        print(f"\nJob / reference wall time: {median('job', 'seconds') / ref_total:.2f}x. "
              f"Job's reasons (TreeSHAP + texts) / bare predict on the same rows: "
              f"{reasons / bare:.1f}x; pred_contrib / predict: "
              f"{median('reference', 'pred_contrib') / bare:.0f}x.")  # fmt: skip
    print("Raw:", json.dumps(results))


if __name__ == "__main__":
    main()
