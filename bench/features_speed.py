"""Feature building at scale: 1,000,000 leads with ~20,000,000 activities, as of one date.

Measures ``build_features`` (every feature of the registry) next to a reference measured in
the same run: DuckDB aggregating the same per-type counts (every modelled activity type, in
each trailing window and in total) from the same in-memory tables with ``count(*) FILTER``.
Each measurement runs in a fresh process (so peak memory is its own); medians of several runs.

    .venv/bin/pip install duckdb   # or: pip install -e ".[bench]"
    .venv/bin/python bench/features_speed.py [--leads 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path

from provenance import in_fresh_process, published, stamp

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"


def _rss_gb() -> float:
    """Current resident memory (VmRSS)."""
    return _status_gb("VmRSS")


def _status_gb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _reset_peak() -> None:
    """Reset the kernel's high-water mark of resident memory (Linux), so the peak measured
    afterwards belongs to the step alone, not to loading the data."""
    Path("/proc/self/clear_refs").write_text("5")


def _world(n_leads: int, seed: int) -> Path:
    """Generate once and keep the world as Parquet under bench/.data (git-ignored)."""
    folder = DATA / f"world_{n_leads}_{seed}"
    if not (folder / "activities.parquet").exists():
        from leadscore.pipelines.synthetic import generate

        folder.mkdir(parents=True, exist_ok=True)
        world = generate(n_leads, seed=seed)
        world.leads.to_parquet(folder / "leads.parquet")
        world.activities.to_parquet(folder / "activities.parquet")
        (folder / "now.txt").write_text(world.now.isoformat())
    return folder


def _load(folder: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    from leadscore.pipelines.config import Config
    from leadscore.pipelines.io.tables import prepare_tables

    leads = pd.read_parquet(folder / "leads.parquet")
    activities = pd.read_parquet(folder / "activities.parquet")
    start = time.perf_counter()
    tables = prepare_tables(leads, activities, Config())
    prepare_seconds = time.perf_counter() - start
    as_of = pd.Timestamp((folder / "now.txt").read_text())
    return tables, as_of, prepare_seconds


def count_query(spec, as_of, relation: str) -> str:  # type: ignore[no-untyped-def]
    """DuckDB SQL: per lead, the count of every modelled activity type (and the rest, as
    "other") in each trailing window and in total, strictly before ``as_of``."""
    from leadscore.features.registry import OTHER_ACTIVITY

    stamp = as_of.isoformat()
    known = sorted(set(spec.activity_types) | set(spec.excluded_activity_types))
    columns = []
    for t in [*spec.activity_types, OTHER_ACTIVITY]:
        test = (
            f"activity_type = '{t}'"
            if t != OTHER_ACTIVITY
            else "activity_type NOT IN (" + ", ".join(f"'{v}'" for v in known) + ")"
        )
        for w in spec.windows_days:
            columns.append(
                f"count(*) FILTER (WHERE {test} AND occurred_at >= TIMESTAMPTZ '{stamp}' - "
                f'INTERVAL {w} DAY) AS "{t}_{w}d"'
            )
        columns.append(f'count(*) FILTER (WHERE {test}) AS "{t}_total"')
    return (
        f"SELECT lead_id, {', '.join(columns)} FROM {relation} "
        f"WHERE occurred_at < TIMESTAMPTZ '{stamp}' GROUP BY lead_id"
    )


def child(kind: str, folder: Path) -> dict[str, float]:
    import logging

    import pandas as pd

    from leadscore.features.build import build_features, fit_spec
    from leadscore.pipelines.config import Config

    logging.disable(logging.WARNING)
    tables, as_of, prepare_seconds = _load(folder)
    spec = fit_spec(tables.leads, tables.activities, Config().features)
    rows = pd.DataFrame(
        {
            "lead_id": tables.leads["lead_id"].to_numpy(),
            "as_of": pd.Series([as_of] * len(tables.leads), dtype="datetime64[us, UTC]"),
        }
    )
    import gc

    gc.collect()
    before = _rss_gb()
    _reset_peak()
    if kind == "features":
        start = time.perf_counter()
        features = build_features(tables.leads, tables.activities, rows, spec)
        seconds = time.perf_counter() - start
        shape = features.shape
    else:
        import duckdb

        acts = tables.activities
        query = count_query(spec, as_of, "acts")
        connection = duckdb.connect()
        connection.execute("SET threads=2")
        start = time.perf_counter()
        connection.register("acts", acts)
        result = connection.execute(query).df()
        seconds = time.perf_counter() - start
        shape = result.shape
    return {
        "seconds": seconds,
        "peak_gb": _status_gb("VmHWM"),
        "rss_before_gb": before,
        "rows": shape[0],
        "columns": shape[1],
        "prepare_seconds": prepare_seconds,
        "activities": len(tables.activities),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["features", "duckdb"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder)))
        return
    folder = _world(args.leads, args.seed)
    results: dict[str, list[dict[str, float]]] = {"features": [], "duckdb": []}
    for _ in range(args.runs):
        for kind in ("duckdb", "features"):
            results[kind].append(
                in_fresh_process(__file__, "--child", kind, "--folder", str(folder))
            )

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    ours, ref = median("features", "seconds"), median("duckdb", "seconds")
    n_rows = results["features"][0]["rows"]
    with published("features_speed", not args.no_write):
        print(f"{stamp()}, Python {platform.python_version()}; {args.runs} runs each, medians.")
        print(
            f"{n_rows:,} leads, {results['features'][0]['activities']:,} activities, "
            "as of one date.\n"
        )
        print(
            "| step | wall time (s) | leads/s | columns "
            "| peak RSS during the step (GB) | RSS before it (GB) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for kind, label in (
            ("features", "leadscore `build_features`"),
            ("duckdb", "DuckDB counts (reference)"),
        ):
            print(
                f"| {label} | {median(kind, 'seconds'):.1f} | "
                f"{n_rows / median(kind, 'seconds'):,.0f} | "
                f"{int(results[kind][0]['columns'])} | {median(kind, 'peak_gb'):.1f} | "
                f"{median(kind, 'rss_before_gb'):.1f} |"
            )
        prepare = median("features", "prepare_seconds")
        print(f"\nRatio leadscore / DuckDB: {ours / ref:.2f}x. Preparing the tables "
              f"(validation, not part of either step): {prepare:.1f} s.")  # fmt: skip
    print("Raw:", json.dumps(results))


if __name__ == "__main__":
    main()
