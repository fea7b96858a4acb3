"""The modelling recipe, used the same way by the evaluation fit, the registered model and
every fold of the backtest: fit the booster on earlier leads (early stopping on the latest
of them), calibrate it on the leads that closed next and learn the tier thresholds there,
then refit the booster on both, so the most recent outcomes teach the ranking too."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from leadscore.features import schema
from leadscore.features.build import FeatureSpec
from leadscore.features.registry import Group, Stat
from leadscore.features.snapshots import LABEL, WEIGHT
from leadscore.models.booster import fit_booster, to_matrix, train_booster, truncated
from leadscore.models.calibration import Calibrator, choose_calibrator, fit_calibrator
from leadscore.models.settings import LightGBMSettings, ThresholdSettings, TuningSettings
from leadscore.models.split import latest_leads_mask
from leadscore.models.thresholds import HeldOut, Thresholds, learn_thresholds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    """The rows of one period and their features."""

    rows: pd.DataFrame
    x: pd.DataFrame

    @property
    def y(self) -> np.ndarray:
        return self.rows[LABEL].to_numpy()

    @property
    def w(self) -> np.ndarray:
        return self.rows[WEIGHT].to_numpy()

    @property
    def lead(self) -> np.ndarray:
        return self.rows[schema.LEAD_ID].to_numpy()

    @staticmethod
    def join(*parts: Part) -> Part:
        return Part(
            pd.concat([p.rows for p in parts], ignore_index=True),
            pd.concat([p.x for p in parts], ignore_index=True),
        )


def monotone_features(spec: FeatureSpec) -> list[str]:
    """Features whose business direction is certain: more high-intent actions never lower
    the score."""
    high = set(spec.high_intent_activity_types)
    out = []
    for d in spec.definitions():
        if d.stat in (Stat.TYPE_COUNT_WINDOW, Stat.TYPE_COUNT_TOTAL) and d.activity_type in high:
            out.append(d.name)
        if d.group is Group.HIGH_INTENT and d.stat in (
            Stat.GROUP_COUNT_WINDOW,
            Stat.GROUP_COUNT_TOTAL,
            Stat.GROUP_DECAYED,
        ):
            out.append(d.name)
    return out


def _constraints(spec: FeatureSpec, on: bool) -> list[int] | None:
    if not on:
        return None
    increasing = set(monotone_features(spec))
    if not increasing:
        return None
    return [1 if name in increasing else 0 for name in spec.feature_names]


ROUNDS_TOLERANCE = 0.002  # relative log loss the longer booster must gain to be kept


def _fit(
    spec: FeatureSpec,
    part: Part,
    settings: LightGBMSettings,
    constraints: list[int] | None,
    later: Part,
) -> tuple[lgb.Booster, int]:
    """Fit on ``part`` with the rounds early stopping finds on its latest fifth; where a
    short patience would have stopped earlier, the two round counts are judged on ``later``
    (the calibration period) by calibrated log loss: the longer one is kept only when it is
    better there by more than ``ROUNDS_TOLERANCE`` (a validation AUC that creeps up slowly
    wants the long patience; gains that do not carry into the next period, as in a drifting
    world, are noise, and fewer rounds are the simpler model)."""
    late = latest_leads_mask(part.rows, 0.2)
    matrix = to_matrix(part.x, spec)
    y, w = part.y, part.w
    booster, rounds, short = fit_booster(
        spec,
        (matrix[~late], y[~late], w[~late]),
        (matrix[late], y[late], w[late]),
        settings,
        constraints,
    )
    if short >= rounds:
        return booster, rounds
    shorter = truncated(booster, short)
    long_loss = _calibrated_log_loss(booster, spec, later)
    if _calibrated_log_loss(shorter, spec, later) <= long_loss * (1 + ROUNDS_TOLERANCE):
        log.info("LightGBM: %d rounds judged better than %d on the later period", short, rounds)
        return shorter, short
    return booster, rounds


def _calibrated_log_loss(booster: lgb.Booster, spec: FeatureSpec, part: Part) -> float:
    """Log loss on ``part`` after a sigmoid calibration fitted there (two numbers on the
    whole period): what the booster's ranking and spread are worth once calibrated, as the
    registered model is. The raw log loss would mostly measure how far the period's rate
    has drifted from the training period's, the same for every candidate."""
    raw = np.asarray(booster.predict(to_matrix(part.x, spec), raw_score=True), dtype=float)
    p = np.clip(fit_calibrator("sigmoid", raw, part.y, part.w).predict(raw), 1e-6, 1 - 1e-6)
    return float(log_loss(part.y, p, sample_weight=part.w, labels=[0, 1]))


@dataclass(frozen=True)
class BoosterChoice:
    booster: lgb.Booster
    rounds: int
    settings: LightGBMSettings
    monotone: bool
    notes: tuple[str, ...]


def choose_booster(
    spec: FeatureSpec,
    train: Part,
    calibration: Part,
    settings: LightGBMSettings,
    tuning: TuningSettings,
) -> BoosterChoice:
    """Fit on ``train``; optionally tune, and decide on monotone constraints, by log loss on
    ``calibration`` (later in time than ``train``)."""
    notes: list[str] = []
    if tuning.enabled:
        settings = tune(spec, train, calibration, settings, tuning)
        notes.append(f"tuned hyperparameters: {settings.model_dump()}")
    want = settings.monotone
    constrained = _constraints(spec, want != "never")
    if constrained is None:
        booster, rounds = _fit(spec, train, settings, None, calibration)
        return BoosterChoice(booster, rounds, settings, False, tuple(notes))
    booster, rounds = _fit(spec, train, settings, constrained, calibration)
    if want == "always":
        return BoosterChoice(booster, rounds, settings, True, tuple(notes))
    free, free_rounds = _fit(spec, train, settings, None, calibration)
    cost_with, cost_without = (
        _calibrated_log_loss(booster, spec, calibration),
        _calibrated_log_loss(free, spec, calibration),
    )
    keep = cost_with <= cost_without * (1 + settings.monotone_tolerance)
    note = (
        f"monotone constraints on {sum(constrained)} high-intent features "
        f"{'kept' if keep else 'dropped'}: calibration-period log loss {cost_with:.4f} with, "
        f"{cost_without:.4f} without"
    )
    log.info(note)
    notes.append(note)
    if keep:
        return BoosterChoice(booster, rounds, settings, True, tuple(notes))
    return BoosterChoice(free, free_rounds, settings, False, tuple(notes))


def refit(spec: FeatureSpec, part: Part, choice: BoosterChoice) -> lgb.Booster:
    """The same booster recipe on more (and more recent) rows, same number of rounds."""
    return train_booster(
        spec,
        to_matrix(part.x, spec),
        part.y,
        part.w,
        choice.rounds,
        choice.settings,
        _constraints(spec, choice.monotone),
    )


@dataclass(frozen=True)
class Forward:
    """The recipe on a past split in two, ``earlier`` and ``recent`` (later in time).

    ``judged`` learned from ``earlier`` only; its scores on ``recent`` (out of time) fit
    ``calibrator`` and give ``p_recent``. ``booster`` is the same recipe refitted on both
    (same rounds, same settings): in a drifting world the latest outcomes are the most
    telling ones, and a recipe that kept them for calibration alone would rank the next
    leads by an older world. ``booster`` has learned the recent period's level too, so its
    scores are carried onto the judged booster's scale by quantile matching on the recent
    rows (``Calibrator.aligned``) before the calibration applies: ``booster`` orders the
    leads, the out-of-time calibration says how probable each position is. The backtest
    measures exactly this pairing, fold by fold."""

    booster: lgb.Booster
    judged: lgb.Booster
    calibrator: Calibrator
    scores: dict[str, float]
    p_recent: np.ndarray


def forward(
    spec: FeatureSpec,
    earlier: Part,
    recent: Part,
    choice: BoosterChoice,
    method: Literal["auto", "isotonic", "sigmoid"],
    judged: lgb.Booster | None = None,
) -> Forward:
    """See ``Forward``; ``judged`` is the booster already fitted on ``earlier``, if any."""
    first = refit(spec, earlier, choice) if judged is None else judged
    calibrator, scores, p_recent = calibrate(first, spec, recent, method)
    booster = refit(spec, Part.join(earlier, recent), choice)
    matrix = to_matrix(recent.x, spec)
    calibrator = calibrator.aligned(
        np.asarray(booster.predict(matrix, raw_score=True)),
        np.asarray(first.predict(matrix, raw_score=True)),
    )
    return Forward(booster, first, calibrator, scores, p_recent)


def calibrate(
    booster: lgb.Booster,
    spec: FeatureSpec,
    part: Part,
    method: Literal["auto", "isotonic", "sigmoid"],
) -> tuple[Calibrator, dict[str, float], np.ndarray]:
    raw = np.asarray(booster.predict(to_matrix(part.x, spec), raw_score=True))
    calibrator, scores = choose_calibrator(method, raw, part.y, part.w, part.lead)
    return calibrator, scores, calibrator.predict(raw)


def thresholds_for(
    p: np.ndarray, part: Part, settings: ThresholdSettings, inflow: float | None
) -> Thresholds:
    held = HeldOut.of(p, part.y, part.w, part.lead, inflow)
    return learn_thresholds(
        held, settings.sql.as_policy(), settings.mql.as_policy(), settings.min_tier_rows
    )


def tune(
    spec: FeatureSpec,
    train: Part,
    calibration: Part,
    settings: LightGBMSettings,
    tuning: TuningSettings,
) -> LightGBMSettings:
    """Optuna search under a time budget; each trial trains on ``train`` (early stopping on
    its latest leads) and is scored by log loss on ``calibration``, later in time."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        candidate = settings.model_copy(
            update={
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
                "num_leaves": trial.suggest_int("num_leaves", 2, 63, log=True),
                "min_child_samples": trial.suggest_int("min_child_samples", 10, 500, log=True),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
                "subsample": trial.suggest_float("subsample", 0.5, 1.0),
                "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
            }
        )
        booster, _ = _fit(spec, train, candidate, None, calibration)
        return _calibrated_log_loss(booster, spec, calibration)

    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=tuning.seed)
    )
    study.enqueue_trial(
        {k: getattr(settings, k) for k in ("learning_rate", "num_leaves", "min_child_samples",
                                           "colsample_bytree", "subsample", "reg_lambda")}
    )  # fmt: skip
    started = time.perf_counter()
    study.optimize(objective, n_trials=tuning.max_trials, timeout=tuning.budget_seconds)
    log.info(
        "Tuning: %d trials in %.0f s, best calibration-period log loss %.4f (defaults %.4f)",
        len(study.trials),
        time.perf_counter() - started,
        study.best_value,
        study.trials[0].value,
    )
    return settings.model_copy(update=study.best_params)
