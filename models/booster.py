"""The LightGBM booster and the logistic-regression baseline, trained on feature frames."""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from leadscore.features.build import FeatureSpec
from leadscore.models.cpus import usable_cpus

log = logging.getLogger(__name__)


def to_matrix(features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Float matrix in the spec's column order; categoricals as their fixed category codes."""
    columns = []
    for name in spec.feature_names:
        column = features[name]
        if name in spec.categories:
            columns.append(column.cat.codes.to_numpy(dtype="float64"))
        else:
            columns.append(column.to_numpy(dtype="float64", na_value=np.nan))
    if not columns:
        return np.empty((len(features), 0))
    return np.column_stack(columns)


def booster_params(settings: Any, monotone: list[int] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = (
        {"monotone_constraints": monotone, "monotone_constraints_method": "advanced"}
        if monotone
        else {}
    )
    return extra | {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_child_samples": settings.min_child_samples,
        "bagging_fraction": settings.subsample,
        "bagging_freq": 1 if settings.subsample < 1 else 0,
        "feature_fraction": settings.colsample_bytree,
        "lambda_l2": settings.reg_lambda,
        "seed": settings.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": settings.num_threads or usable_cpus(),
        "verbosity": -1,
        "cat_smooth": 10.0,
        "min_data_per_group": 50,
    }


SHORT_PATIENCE = 50  # the early stop a slowly creeping validation AUC is compared with


def fit_booster(
    spec: FeatureSpec,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray, np.ndarray],
    settings: Any,
    monotone: list[int] | None = None,
) -> tuple[lgb.Booster, int, int]:
    """Find the number of rounds by early stopping on ``valid`` (later in time than
    ``train``), then refit on both with that many rounds. Returns (booster, rounds, the
    rounds a patience of ``SHORT_PATIENCE`` would have stopped at): on a slowly creeping
    validation AUC the long patience finds the better model, on a drifting one the short; the
    caller judges the two on later data (``booster.predict(num_iteration=...)`` of the first
    rounds is exactly the shorter booster)."""
    params = booster_params(settings, monotone)
    categorical = [i for i, n in enumerate(spec.feature_names) if n in spec.categories]
    names = spec.feature_names

    def dataset(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> lgb.Dataset:
        return lgb.Dataset(
            x,
            label=y,
            weight=w,
            feature_name=names,
            categorical_feature=categorical,
            free_raw_data=False,
        )

    history: dict[str, dict[str, list[float]]] = {}
    probe = lgb.train(
        params,
        dataset(*train),
        num_boost_round=settings.n_estimators,
        valid_sets=[dataset(*valid)],
        callbacks=[
            lgb.early_stopping(settings.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(history),
        ],
    )
    rounds = max(int(probe.best_iteration or settings.n_estimators), 10)
    curve: list[float] = next(iter(history.values()), {}).get("auc", [])
    short = max(min(_early_stop(curve, SHORT_PATIENCE), rounds), 10)
    log.info(
        "LightGBM: %d rounds (early stopping on the later part of the training period; a "
        "patience of %d would stop at %d)",
        rounds,
        SHORT_PATIENCE,
        short,
    )
    booster = train_booster(
        spec,
        np.vstack([train[0], valid[0]]),
        np.concatenate([train[1], valid[1]]),
        np.concatenate([train[2], valid[2]]),
        rounds,
        settings,
        monotone,
    )
    return booster, rounds, short


def _early_stop(curve: list[float], patience: int) -> int:
    """The best round (1-based) early stopping with ``patience`` picks on an AUC curve."""
    best, best_round = -np.inf, 0
    for i, value in enumerate(curve):
        if value > best:
            best, best_round = value, i
        elif i - best_round >= patience:
            break
    return best_round + 1 if curve else 0


def truncated(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """The booster's first ``rounds`` trees: exactly the booster trained for that many."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


def train_booster(
    spec: FeatureSpec,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    rounds: int,
    settings: Any,
    monotone: list[int] | None = None,
) -> lgb.Booster:
    """A fixed number of rounds on all the rows given."""
    categorical = [i for i, n in enumerate(spec.feature_names) if n in spec.categories]
    data = lgb.Dataset(
        x, label=y, weight=w, feature_name=spec.feature_names, categorical_feature=categorical
    )
    return lgb.train(booster_params(settings, monotone), data, num_boost_round=rounds)


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def fit_baseline(
    features: pd.DataFrame, y: np.ndarray, w: np.ndarray, spec: FeatureSpec
) -> Pipeline:
    """Logistic regression on the same features: log-scaled numbers with missing-value
    indicators, one-hot categories."""
    numeric = [n for n in spec.feature_names if n not in spec.categories]
    categorical = [n for n in spec.feature_names if n in spec.categories]
    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(_signed_log, feature_names_out="one-to-one"),
        StandardScaler(),
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", numeric_steps, numeric))
    if categorical:
        transformers.append(
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=20), categorical)
        )
    pipeline = Pipeline(
        [
            ("prepare", ColumnTransformer(transformers)),
            ("model", LogisticRegression(C=0.5, solver="newton-cholesky", max_iter=200)),
        ]
    )
    frame = features[spec.feature_names].copy()
    for name in categorical:
        frame[name] = frame[name].astype(str)
    pipeline.fit(frame, y, model__sample_weight=w)
    return pipeline


def baseline_proba(pipeline: Pipeline, features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    frame = features[spec.feature_names].copy()
    for name in spec.categorical_names:
        frame[name] = frame[name].astype(str)
    return np.asarray(pipeline.predict_proba(frame)[:, 1])
