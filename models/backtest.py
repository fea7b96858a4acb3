"""Rolling-origin backtest: train on the past, judge on the next slice of leads, several
times, next to the logistic baseline and the classic points rule. Also a shuffled
cross-validation, only to show how much a random split flatters a model on drifting data."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.build import FeatureSpec
from leadscore.models.booster import baseline_proba, fit_baseline, to_matrix
from leadscore.models.calibration import fit_calibrator
from leadscore.models.metrics import evaluate
from leadscore.models.points import DEFAULT_POINTS, points
from leadscore.models.recipe import BoosterChoice, Part, forward
from leadscore.models.split import CALIBRATION, TEST, TRAIN, lead_order, rolling_folds

log = logging.getLogger(__name__)

MODELS = ("lightgbm", "baseline", "points")


@dataclass(frozen=True)
class BacktestResult:
    per_fold: pd.DataFrame  # one row per (fold, model) with its metrics
    overall: pd.DataFrame  # one row per model: metrics over all folds' predictions pooled
    predictions: pd.DataFrame  # fold, lead_id, label, weight, p_<model>
    how: str


@dataclass(frozen=True)
class FoldInputs:
    """What one fold learned from its own past only: the feature spec (vocabularies, column
    roles, leakage gate), the fold's periods with their features under it (``parts_of``),
    and the booster recipe (rounds by early stopping, monotone constraints, tuned settings)."""

    spec: FeatureSpec
    parts: dict[str, Part]
    choice: BoosterChoice


# Given the period label of every training row (train / calibration / test / later), learn
# the fold's inputs from its train and calibration rows.
PrepareFold = Callable[[np.ndarray], FoldInputs]


def _points_probability(
    spec: FeatureSpec, rule: dict[str, float], calibration: Part, test: Part
) -> np.ndarray | None:
    cal_score, test_score = points(calibration.x, rule), points(test.x, rule)
    if not np.any(cal_score) and not np.any(test_score):
        return None
    calibrator = fit_calibrator("sigmoid", cal_score, calibration.y, calibration.w)
    return calibrator.predict(test_score)


def _one_fold(
    spec: FeatureSpec,
    train: Part,
    calibration: Part,
    test: Part,
    choice: BoosterChoice,
    calibration_method: Literal["auto", "isotonic", "sigmoid"],
    rule: dict[str, float],
    judged: lgb.Booster | None,
) -> dict[str, np.ndarray | None]:
    """``judged``: the recipe's booster already fitted on ``train``, if there is one."""
    step = forward(spec, train, calibration, choice, calibration_method, judged=judged)
    raw = np.asarray(step.booster.predict(to_matrix(test.x, spec), raw_score=True))
    past = Part.join(train, calibration)
    baseline = fit_baseline(past.x, past.y, past.w, spec)
    return {
        "lightgbm": step.calibrator.predict(raw),
        "baseline": baseline_proba(baseline, test.x, spec),
        "points": _points_probability(spec, rule, calibration, test),
    }


def parts_of(rows: pd.DataFrame, features: pd.DataFrame, labels: np.ndarray) -> dict[str, Part]:
    """The train, calibration and test periods of ``rows`` (and their ``features``)."""
    return {
        name: Part(
            rows[labels == name].reset_index(drop=True),
            features[labels == name].reset_index(drop=True),
        )
        for name in (TRAIN, CALIBRATION, TEST)
    }


def _summarise(predictions: pd.DataFrame, group: str | None) -> pd.DataFrame:
    records = []
    groups = predictions.groupby(group, sort=True) if group else [("all", predictions)]
    for key, frame in groups:
        for model in MODELS:
            column = f"p_{model}"
            if column not in frame or frame[column].isna().all():
                continue
            metrics = evaluate(
                frame["label"].to_numpy(), frame[column].to_numpy(), frame["weight"].to_numpy()
            )
            metrics["leads"] = float(frame[schema.LEAD_ID].nunique())
            records.append({"fold": key, "model": model, **metrics})
    return pd.DataFrame.from_records(records)


def backtest(
    rows: pd.DataFrame,
    prepare: PrepareFold,
    *,
    folds: int,
    fold_share: float,
    calibration_share: float,
    calibration_method: Literal["auto", "isotonic", "sigmoid"],
    points_rule: dict[str, float] | None = None,
) -> BacktestResult:
    """Each fold learns everything from the leads that closed before its slice (``prepare``:
    feature spec, leakage gate, booster recipe), fits on them, calibrates on the latest of
    them, and predicts the slice; no choice of a fold sees an outcome of its slice or later."""
    rule = DEFAULT_POINTS if points_rule is None else points_rule
    labelled, how = rolling_folds(rows, folds, fold_share, calibration_share)
    frames = []
    for k, labels in enumerate(labelled, start=1):
        if any(
            rows.loc[labels == name, "label"].nunique() < 2 for name in (TRAIN, CALIBRATION, TEST)
        ):
            log.warning("Backtest fold %d skipped: a period has only one outcome", k)
            continue
        inputs = prepare(labels)
        parts = inputs.parts
        predicted = _one_fold(
            inputs.spec,
            parts[TRAIN],
            parts[CALIBRATION],
            parts[TEST],
            inputs.choice,
            calibration_method,
            rule,
            judged=inputs.choice.booster,  # fitted on this fold's train period
        )
        test = parts[TEST].rows
        frame = pd.DataFrame(
            {
                "fold": k,
                schema.LEAD_ID: test[schema.LEAD_ID].to_numpy(),
                "label": test["label"].to_numpy(),
                "weight": test["weight"].to_numpy(),
            }
        )
        for model, p in predicted.items():
            frame[f"p_{model}"] = np.nan if p is None else p
        frames.append(frame)
        log.info("Backtest fold %d/%d: %d test rows", k, len(labelled), len(test))
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if predictions.empty:
        return BacktestResult(pd.DataFrame(), pd.DataFrame(), predictions, how)
    per_fold = _summarise(predictions, "fold")
    return BacktestResult(
        per_fold=per_fold,
        overall=_with_fold_means(_summarise(predictions, None).drop(columns="fold"), per_fold),
        predictions=predictions,
        how=how,
    )


FOLD_MEANS = ("roc_auc", "pr_auc")


def _with_fold_means(overall: pd.DataFrame, per_fold: pd.DataFrame) -> pd.DataFrame:
    """Add the mean over folds of the ranking metrics (``roc_auc_fold_mean``...). When the
    base rate moves between folds, a pooled ROC AUC rewards a model mostly for putting whole
    folds in the right order of their levels; the mean over folds says how well it ranks the
    leads of each period against each other."""
    means = per_fold.groupby("model")[list(FOLD_MEANS)].mean()
    means.columns = [f"{key}_fold_mean" for key in FOLD_MEANS]
    return overall.merge(means, left_on="model", right_index=True, how="left")


def shuffled_cv(
    rows: pd.DataFrame,
    features: pd.DataFrame,
    spec: FeatureSpec,
    choice: BoosterChoice,
    *,
    folds: int,
    calibration_share: float,
    calibration_method: Literal["auto", "isotonic", "sigmoid"],
    seed: int = 0,
) -> pd.DataFrame:
    """The split a random K-fold cross-validation would make (grouped by lead, time
    ignored). Shown only as a contrast to the forward-in-time backtest."""
    shuffled = rows.copy()
    ordered, _ = lead_order(rows.assign(order_time=np.nan), seed)
    chunks = np.array_split(ordered, folds)
    frames = []
    rng = np.random.default_rng(seed)
    for k, held in enumerate(chunks, start=1):
        rest = np.setdiff1d(ordered, held)
        rest = rest[rng.permutation(len(rest))]
        n_cal = max(1, round(len(rest) * calibration_share))
        period = pd.Series(TRAIN, index=rest)
        period[rest[:n_cal]] = CALIBRATION
        period = pd.concat([period, pd.Series(TEST, index=held)])
        labels = shuffled[schema.LEAD_ID].map(period).to_numpy(dtype=object)
        parts = parts_of(rows, features, labels)
        predicted = _one_fold(
            spec,
            parts[TRAIN],
            parts[CALIBRATION],
            parts[TEST],
            choice,
            calibration_method,
            {},
            judged=None,  # ``choice`` was fitted on another split
        )
        test = parts[TEST].rows
        frames.append(
            pd.DataFrame(
                {
                    "fold": k,
                    schema.LEAD_ID: test[schema.LEAD_ID].to_numpy(),
                    "label": test["label"].to_numpy(),
                    "weight": test["weight"].to_numpy(),
                    "p_lightgbm": predicted["lightgbm"],
                    "p_baseline": predicted["baseline"],
                }
            )
        )
    return _summarise(pd.concat(frames, ignore_index=True), None).drop(columns="fold")
