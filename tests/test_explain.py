"""PathExplainer: exact TreeSHAP, checked against LightGBM's own ``pred_contrib``."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from leadscore.features.snapshots import LABEL, WEIGHT
from leadscore.models.booster import booster_params, to_matrix, train_booster
from leadscore.models.settings import LightGBMSettings
from leadscore.models.treeshap import PathExplainer, top_agreement
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import training_set
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate

CATEGORICAL = [4, 5]


def awkward_matrix(n: int, seed: int) -> np.ndarray:
    """Numbers with NaN, exact zeros and values at LightGBM's zero threshold; categories with
    NaN, -1, unseen and non-integer codes."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(size=n),
            np.where(rng.random(n) < 0.3, np.nan, rng.exponential(size=n)),
            np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n)),
            rng.choice([0.0, 1e-36, -1e-36, 1e-30, -1e-30, 2.0, -2.0], size=n),
            rng.integers(-1, 40, size=n).astype(float),
            rng.integers(0, 6, size=n).astype(float),
        ]
    )
    x[rng.random(n) < 0.1, 4] = np.nan
    x[rng.random(n) < 0.05, 5] = np.nan
    x[rng.random(n) < 0.05, 2] = np.nan
    return x


def awkward_labels(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    score = (
        x[:, 0]
        + np.nan_to_num(x[:, 1], nan=2.0)
        - (x[:, 2] == 0)
        + 3 * np.sign(x[:, 3])
        + (np.nan_to_num(x[:, 4]) % 3 == 0)
        - 0.5 * np.nan_to_num(x[:, 5])
    )
    return (score + rng.logistic(size=len(x)) > 0.5).astype(int)


def train(x: np.ndarray, y: np.ndarray, rounds: int, **params: Any) -> lgb.Booster:
    base = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1}
    data = lgb.Dataset(x, label=y, categorical_feature=CATEGORICAL)
    return lgb.train(base | params, data, num_boost_round=rounds)


def unseen_edges(x: np.ndarray) -> np.ndarray:
    edges = x[:12].copy()
    edges[0, :] = np.nan
    edges[1, :] = 0.0
    edges[2, 4:] = [1000.0, 77.0]
    edges[3, 4:] = [-3.0, -0.5]
    edges[4, 4:] = [2.7, 0.9]
    edges[5, :4] = [np.inf, -np.inf, 1e-36, -1e-36]
    return np.vstack([x, edges])


def assert_exact(
    booster: lgb.Booster, explainer: PathExplainer, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Contributions and base value as ``pred_contrib`` has them, summing to the raw score.
    Returns (ours, LightGBM's) contributions."""
    contrib, base = explainer.contributions(x)
    expected = booster.predict(x, pred_contrib=True, num_threads=1)
    np.testing.assert_allclose(contrib, expected[:, :-1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(base, expected[:, -1], rtol=0, atol=1e-10)
    raw = booster.predict(x, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, raw, rtol=0, atol=1e-10)
    return contrib, expected[:, :-1]


@pytest.mark.parametrize("zero_as_missing", [False, True])
@pytest.mark.parametrize("max_block_bits", [0, 4, 10])
def test_equals_pred_contrib_with_missing_zeros_and_categories(
    zero_as_missing: bool, max_block_bits: int
) -> None:
    x = awkward_matrix(4000, seed=1)
    booster = train(
        x,
        awkward_labels(x, seed=2),
        rounds=25,
        num_leaves=31,
        min_data_in_leaf=5,
        min_data_per_group=5,
        cat_smooth=1.0,
        zero_as_missing=zero_as_missing,
    )
    explainer = PathExplainer.from_booster(booster, max_block_bits=max_block_bits)
    x_new = unseen_edges(awkward_matrix(1500, seed=3))
    leaves = booster.predict(x_new, pred_leaf=True)
    assert len(np.unique(leaves[:, 0])) > 5  # the rows spread over the leaves
    assert_exact(booster, explainer, x_new)


def test_stumps_give_each_split_its_whole_effect() -> None:
    """Depth-1 trees: TreeSHAP and path attribution (Saabas) coincide; each tree adds its
    leaf value minus its expected value to its one feature."""
    x = awkward_matrix(3000, seed=4)
    booster = train(x, awkward_labels(x, seed=5), rounds=40, num_leaves=2)
    x_new = awkward_matrix(500, seed=6)
    contrib, _ = assert_exact(booster, PathExplainer.from_booster(booster), x_new)
    model = booster.dump_model()["tree_info"]
    leaves = booster.predict(x_new, pred_leaf=True)
    saabas = np.zeros_like(contrib)
    for t, tree in enumerate(model):
        root = tree["tree_structure"]
        children = (root["left_child"], root["right_child"])
        values = {c["leaf_index"]: c["leaf_value"] for c in children}
        expected = sum(c["leaf_value"] * c["leaf_count"] for c in children) / root["internal_count"]
        saabas[:, root["split_feature"]] += np.vectorize(values.get)(leaves[:, t]) - expected
    np.testing.assert_allclose(contrib, saabas, rtol=0, atol=1e-10)


def test_uses_the_trees_predict_uses_and_checks_input() -> None:
    x = awkward_matrix(2000, seed=7)
    y = awkward_labels(x, seed=8)
    booster = train(x, y, rounds=30)
    booster.best_iteration = 12  # as early stopping leaves it: predict uses 12 trees
    explainer = PathExplainer.from_booster(booster, num_threads=1)
    contrib, base = explainer.contributions(x[:300])
    raw = booster.predict(x[:300], raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, raw, rtol=0, atol=1e-10)
    assert not np.allclose(raw, booster.predict(x[:300], raw_score=True, num_iteration=30))
    contrib, base = PathExplainer.from_booster(booster, num_iteration=5).contributions(x[:300])
    raw = booster.predict(x[:300], raw_score=True, num_iteration=5)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, raw, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="6 columns"):
        explainer.contributions(x[:, :5])
    multiclass = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbosity": -1},
        lgb.Dataset(x, label=y + (x[:, 0] > 1)),
        num_boost_round=2,
    )
    with pytest.raises(ValueError, match="single-output"):
        PathExplainer.from_booster(multiclass)


@pytest.fixture(scope="module")
def lead_features() -> tuple[np.ndarray, np.ndarray, Any]:
    """Point-in-time training rows of a generated CRM world, as the booster sees them."""
    world = generate(2500, seed=21)
    config = Config()
    tables = prepare_tables(world.leads, world.activities, config)
    spec, rows, features, _ = training_set(tables, config, "generated")
    return to_matrix(features, spec), rows[[LABEL, WEIGHT]].to_numpy(), spec


@pytest.mark.parametrize("num_leaves", [15, 31])
def test_reasons_agree_with_treeshap_on_a_lead_model(
    lead_features: tuple[np.ndarray, np.ndarray, Any], num_leaves: int
) -> None:
    """The project's LightGBM settings (15 leaves by default; 31 as a bigger model) on real
    features: the same contributions as ``pred_contrib``, so the same top three factors."""
    x, labels, spec = lead_features
    # One thread: LightGBM's OpenMP spin-waits badly when the cores are shared.
    settings = LightGBMSettings(num_leaves=num_leaves, num_threads=1)
    assert booster_params(settings)["num_leaves"] == num_leaves
    booster = train_booster(spec, x, labels[:, 0], labels[:, 1], 150, settings)
    explainer = PathExplainer.from_booster(booster)
    rows = x[np.random.default_rng(0).choice(len(x), 2000, replace=False)]
    contrib, exact = assert_exact(booster, explainer, rows)
    agreement = top_agreement(contrib, exact, k=3, min_contribution=0.02)
    assert agreement["set"] >= 0.95
    assert agreement["named"] >= 0.95
    assert agreement["ordered"] >= 0.95


def test_top_agreement_counts_sets_orders_and_named_factors() -> None:
    a = np.array([[0.5, -0.4, 0.3, 0.01], [0.5, 0.4, 0.3, 0.2]])
    b = np.array([[-0.4, 0.5, 0.3, 0.015], [0.5, 0.4, 0.2, 0.3]])
    assert top_agreement(a, b) == {"set": 0.5, "ordered": 0.0, "named": 0.5}
    c = np.array([[0.5, 0.01, 0.005, 0.0]])
    d = np.array([[0.5, 0.005, 0.01, 0.0]])
    assert top_agreement(c, d, min_contribution=0.02) == {"set": 1.0, "ordered": 0.0, "named": 1.0}
