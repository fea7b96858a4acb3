"""Reason codes at scale: the cost of per-lead contributions next to the bare prediction.

Generates a CRM world, builds its point-in-time training rows (the features the booster
sees), trains two boosters with the project's LightGBM settings -- the default recipe
(15 leaves, rounds by early stopping on the later rows) and a bigger one (31 leaves, 300
rounds) -- and times, on the same rows and threads (medians of ``--runs``):

* ``predict``: ``booster.predict(X, raw_score=True)``, the reference;
* ``pred_contrib``: LightGBM's exact TreeSHAP (timed on ``--contrib-rows`` rows, scaled);
* ``PathExplainer``: ``leadscore.models.treeshap``, exact TreeSHAP from per-subtree tables;
* ``saabas``: path attribution (value change at each split on the row's path), from
  ``pred_leaf`` and per-leaf vectors, for comparison.

Agreement with ``pred_contrib`` on the ``--contrib-rows`` rows: same top-3 set, same top-3
order, and same named reasons (top three at or above 0.02 log-odds, what ``reasons`` shows).

    .venv/bin/python bench/reasons_speed.py [--rows 100000] [--runs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp
from provenance import published, stamp

from leadscore.features import schema
from leadscore.features.snapshots import LABEL, WEIGHT
from leadscore.models.booster import fit_booster, to_matrix, train_booster
from leadscore.models.settings import LightGBMSettings
from leadscore.models.treeshap import PathExplainer, top_agreement
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import training_set
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate

MIN_REASON = 0.02


class Saabas:
    """Path attribution: per leaf, the sum along its path of (child value - node value)
    credited to the split feature, node value = count-weighted mean of its leaves."""

    def __init__(self, booster: lgb.Booster) -> None:
        model = booster.dump_model()
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        self.offsets: list[int] = []
        self.base = 0.0
        n_leaves = 0

        def mean(node: dict[str, Any]) -> tuple[float, float]:
            if "split_index" not in node:
                node["_v"], node["_c"] = node["leaf_value"], float(node.get("leaf_count", 1))
            else:
                (lv, lc), (rv, rc) = mean(node["left_child"]), mean(node["right_child"])
                node["_c"] = lc + rc
                node["_v"] = (lv * lc + rv * rc) / node["_c"] if node["_c"] else (lv + rv) / 2
            return node["_v"], node["_c"]

        def walk(node: dict[str, Any], path: dict[int, float], first: int) -> None:
            if "split_index" not in node:
                for f, v in path.items():
                    rows.append(first + node["leaf_index"])
                    cols.append(f)
                    vals.append(v)
                return
            for child in (node["left_child"], node["right_child"]):
                f = node["split_feature"]
                walk(child, path | {f: path.get(f, 0.0) + child["_v"] - node["_v"]}, first)

        for tree in model["tree_info"]:
            root = tree["tree_structure"]
            self.offsets.append(n_leaves)
            self.base += mean(root)[0]
            walk(root, {}, n_leaves)
            n_leaves += tree["num_leaves"]
        shape = (n_leaves, model["max_feature_idx"] + 1)
        self.leaf_contrib = sp.csr_matrix((vals, (rows, cols)), shape=shape)
        self.booster = booster

    def contributions(self, x: np.ndarray, threads: int) -> np.ndarray:
        leaves = self.booster.predict(x, pred_leaf=True, num_threads=threads)
        n, t = leaves.shape
        index = (leaves + np.asarray(self.offsets)[None, : leaves.shape[1]]).ravel()
        onehot = sp.csr_matrix(
            (np.ones(n * t), index, np.arange(0, n * t + 1, t)),
            shape=(n, self.leaf_contrib.shape[0]),
        )
        return np.asarray((onehot @ self.leaf_contrib).toarray())


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lead_rows(leads: int, seed: int) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, Any]:
    world = generate(leads, seed=seed)
    config = Config()
    tables = prepare_tables(world.leads, world.activities, config)
    spec, rows, features, _ = training_set(tables, config, "generated")
    order = np.argsort(rows[schema.AS_OF].to_numpy(), kind="stable")
    x = to_matrix(features, spec)[order]
    return spec, x, rows[LABEL].to_numpy()[order], rows[WEIGHT].to_numpy()[order], config


def boosters(spec: Any, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict:
    """Trained on one thread (the model does not depend on it; OpenMP's spin-waiting makes
    two threads crawl when another process shares the cores)."""
    default = LightGBMSettings(num_threads=1)
    cut = int(len(x) * 0.8)  # early stopping on the later rows, as the recipe does
    recipe, _, _ = fit_booster(
        spec, (x[:cut], y[:cut], w[:cut]), (x[cut:], y[cut:], w[cut:]), default
    )
    big = train_booster(spec, x, y, w, 300, LightGBMSettings(num_leaves=31, num_threads=1))
    return {"default (15 leaves, early stopping)": recipe, "31 leaves x 300 rounds": big}


def report(
    name: str, booster: lgb.Booster, x: np.ndarray, sample: np.ndarray, args: argparse.Namespace
) -> None:
    t = args.threads
    build = time.perf_counter()
    explainer = PathExplainer.from_booster(booster, num_threads=t)
    build = time.perf_counter() - build
    explainer.contributions(x[:100])  # compile (or load the compiled kernel)
    saabas = Saabas(booster)
    predict = median_time(lambda: booster.predict(x, raw_score=True, num_threads=t), args.runs)
    ours = median_time(lambda: explainer.contributions(x), args.runs)
    path = median_time(lambda: saabas.contributions(x, t), args.runs)
    contrib = median_time(
        lambda: booster.predict(sample, pred_contrib=True, num_threads=t), args.runs
    ) * (len(x) / len(sample))
    exact = booster.predict(sample, pred_contrib=True, num_threads=t)[:, :-1]
    mine, _ = explainer.contributions(sample)
    approx = saabas.contributions(sample, t)
    print(f"## {name}: {booster.num_trees()} trees, PathExplainer tables "
          f"{explainer.trees.table.nbytes / 1e6:.0f} MB built in {build:.1f} s\n")  # fmt: skip
    print("| method | seconds | x predict | top-3 set | top-3 order | named reasons "
          "| max abs diff |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| predict | {predict:.3f} | 1.0 | | | | |")
    print(f"| pred_contrib (exact TreeSHAP) | {contrib:.2f} | {contrib / predict:.0f} "
          "| 1 | 1 | 1 | 0 |")  # fmt: skip
    for label, seconds, values in (("PathExplainer", ours, mine), ("saabas", path, approx)):
        agree = top_agreement(values, exact, k=3, min_contribution=MIN_REASON)
        print(f"| {label} | {seconds:.3f} | {seconds / predict:.1f} | {agree['set']:.4f} "
              f"| {agree['ordered']:.4f} | {agree['named']:.4f} "
              f"| {np.abs(values - exact).max():.1e} |")  # fmt: skip
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rows", type=int, default=100_000, help="rows timed")
    parser.add_argument("--contrib-rows", type=int, default=20_000, help="rows for pred_contrib")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    spec, x_all, y, w, _ = lead_rows(args.leads, args.seed)
    x = np.resize(x_all, (args.rows, x_all.shape[1]))  # repeats the rows if there are fewer
    sample = x_all[np.random.default_rng(0).permutation(len(x_all))[: args.contrib_rows]]
    with published("reasons_speed", not args.no_write):
        print(f"{stamp()}. {len(x_all)} feature rows ({x_all.shape[1]} features) from "
              f"{args.leads} leads; timing {args.rows} rows, {args.threads} threads, "
              f"median of {args.runs} runs\n")  # fmt: skip
        for name, booster in boosters(spec, x_all, y, w).items():
            report(name, booster, x, sample, args)


if __name__ == "__main__":
    main()
