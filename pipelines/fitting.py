"""Fitting, judged forward in time: pure computation on validated tables, no MLflow, no
files. ``train`` stamps the model (package version, commit), logs and registers what
``fit`` returns."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from leadscore.features import schema
from leadscore.features.build import FeatureSpec, build_features, fit_spec
from leadscore.features.leakage import Leak, excluded_features, find_leaks
from leadscore.features.registry import Kind
from leadscore.features.snapshots import (
    LABEL,
    ORDER_TIME,
    Inflow,
    open_leads,
    rows_as_of,
    training_rows,
)
from leadscore.features.timeutil import SECONDS_PER_DAY, to_epoch_seconds
from leadscore.models.backtest import (
    BacktestResult,
    FoldInputs,
    PrepareFold,
    backtest,
    parts_of,
)
from leadscore.models.booster import baseline_proba, fit_baseline, to_matrix
from leadscore.models.drift import DriftReference
from leadscore.models.importance import by_segment, effects, importance_table
from leadscore.models.metrics import evaluate
from leadscore.models.recipe import Part, choose_booster, forward, thresholds_for
from leadscore.models.scorer import LeadScoringModel
from leadscore.models.split import CALIBRATION, LATER, TEST, TRAIN, split_by_time
from leadscore.models.thresholds import HeldOut, tier_table, weekly_inflow
from leadscore.pipelines.config import Config
from leadscore.pipelines.io.tables import InputError, Tables

log = logging.getLogger(__name__)


class NotEnoughDataError(InputError):
    """Too few won or lost leads to learn from."""


def data_end(tables: Tables) -> pd.Timestamp:
    """The latest timestamp anywhere in the tables: the export's "now"."""
    latest = (
        tables.activities[schema.OCCURRED_AT].max()
        if tables.activities is not None and not tables.activities.empty
        else None
    )
    return data_end_of(tables.leads, latest)


def data_end_of(leads: pd.DataFrame, latest_activity: pd.Timestamp | None) -> pd.Timestamp:
    """``data_end`` from the leads and the latest activity time (None without any)."""
    stamps = [leads[c].max() for c in (schema.CREATED_AT, schema.CLOSED_AT) if c in leads.columns]
    stamps.append(latest_activity)
    stamps = [s for s in stamps if s is not None and pd.notna(s)]
    return max(stamps) if stamps else pd.Timestamp("1970-01-01", tz="UTC")


def check_enough(leads: pd.DataFrame, source: str, config: Config) -> list[str]:
    """Refuse below the minimum; below the comfortable amount, warn with the uncertainty to
    expect. Returns the warnings."""
    if schema.OUTCOME not in leads.columns:
        raise InputError(
            source,
            "required column for training is missing",
            column=schema.OUTCOME,
            expected="won / lost for closed leads (map the export's column with `columns:`)",
        )
    won = int((leads[schema.OUTCOME] == schema.WON).sum())
    lost = int((leads[schema.OUTCOME] == schema.LOST).sum())
    need = config.minimum_data.min_class_leads
    if won < need or lost < need:
        raise NotEnoughDataError(
            source,
            f"too few closed leads to learn from: {won} won and {lost} lost",
            column=schema.OUTCOME,
            expected=f"at least {need} won and {need} lost leads "
            f"({config.minimum_data.comfortable_class_leads} or more of each for trustworthy "
            "tiers); wait for more outcomes or add older history",
        )
    comfortable = config.minimum_data.comfortable_class_leads
    fewer = min(won, lost)
    if fewer >= comfortable:
        return []
    # Hanley & McNeil's standard error of a ROC AUC of 0.75, and a tier of 50 leads.
    auc = 0.75
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    n_test_won, n_test_lost = max(won // 5, 1), max(lost // 5, 1)
    se = math.sqrt(
        (auc * (1 - auc) + (n_test_won - 1) * (q1 - auc**2) + (n_test_lost - 1) * (q2 - auc**2))
        / (n_test_won * n_test_lost)
    )
    tier_leads = max((n_test_won + n_test_lost) // 3, 1)
    warning = (
        f"only {won} won and {lost} lost leads: the most recent fifth that judges the model "
        f"holds about {n_test_won} wins, so expect its ROC AUC to be uncertain by about "
        f"+/-{1.96 * se:.2f} (95%) and the win rate of a tier holding a third of those leads by "
        f"about +/-{1.96 * math.sqrt(0.25 / tier_leads):.0%}; {comfortable} of each make the "
        "figures trustworthy"
    )
    log.warning("%s", warning)
    return [warning]


def drift_warning(parts: dict[str, Part], p_test_evaluated: np.ndarray) -> str | None:
    """Warn when the latest leads convert very differently from the training period."""
    rate = {
        name: float(np.average(part.y, weights=part.w))
        for name, part in parts.items()
        if len(part.y)
    }
    old, new = rate[TRAIN], rate[TEST]
    if old <= 0 or new <= 0:
        return None
    ratio = new / old
    if 1 / 1.5 <= ratio <= 1.5 and abs(new - old) < 0.05:
        return None
    predicted = float(np.average(p_test_evaluated, weights=parts[TEST].w))
    message = (
        f"the conversion rate has shifted: the most recent leads won {new:.1%} of the time, "
        f"the training period's {old:.1%} (calibration period {rate[CALIBRATION]:.1%}). A model "
        f"calibrated on the past predicted {predicted:.1%} on average for the recent leads, so "
        f"its probabilities are {'too low' if predicted < new else 'too high'} there; the "
        "registered model is calibrated on the most recent period, so its probabilities follow "
        "the recent rate as far as the history allows. Expect further drift to need a "
        "recalibration (`leadscore monitor` tells when)."
    )
    log.warning("%s", message)
    return message


@dataclass(frozen=True)
class Explained:
    """What drives the score on the test period, from one pass of TreeSHAP."""

    importance: pd.DataFrame
    effects: pd.DataFrame
    segments: dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Fitted:
    """The outcome of fitting, before anything is logged.

    ``metrics`` judge the recipe honestly on the most recent (test) period it never saw:
    calibrator and thresholds from the train-period booster's scores on the calibration
    period, applied to the booster refitted on train + calibration (``recipe.forward``).
    ``model`` is what gets registered: the same step one period later, calibrator and
    thresholds from that booster's scores on the most recent period (so probabilities follow
    the latest base rate as far as the history allows), booster refitted on all closed leads
    (``model.judged`` keeps the one it was judged with, for the champion gate)."""

    model: LeadScoringModel
    rows: pd.DataFrame
    period: np.ndarray
    split: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    calibration_metrics: dict[str, float]
    calibration_scores: dict[str, float]
    final_metrics: dict[str, float]
    tiers_test: pd.DataFrame
    tiers_final: pd.DataFrame
    p_test: np.ndarray
    p_baseline: np.ndarray
    baseline: Pipeline
    explained: Explained
    backtest: BacktestResult | None
    leaks: list[Leak]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage (``Stages``)


TOP_EFFECTS = 6
Progress = Callable[[str, int, int], None]  # (what, done, total), as the score job's


class Stages:
    """Seconds per stage of a fit (the train log and the MLflow run say where the time went)
    and, with a ``progress`` callback, the stage shown on a terminal."""

    NAMES = ("training rows", "evaluation", "backtest", "registered model", "explanations")

    def __init__(self, progress: Progress | None) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress(name, 0, 1)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        if self.progress is not None:
            self.progress(name, 1, 1)

    def describe(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())


def explain_test(
    model: LeadScoringModel, features: pd.DataFrame, segment_columns: tuple[str, ...]
) -> Explained:
    """Importance per feature, effect curves of the top numeric ones, and importances per
    value of each segment column the model has as a category (see models/importance.py)."""
    defs = model.spec.definitions()
    matrix = model.matrix(features)
    contrib, _ = model.contributions(matrix)
    gain = model.booster.feature_importance(importance_type="gain")
    table = importance_table(contrib, matrix, gain, defs)
    numeric = table[table["direction"] != "by category"]["feature"].head(TOP_EFFECTS).tolist()
    segments = {}
    for column in segment_columns:
        name = next((d.name for d in defs if d.origin == column and d.kind is Kind.CATEGORY), None)
        if name is not None:
            segments[column] = by_segment(contrib, features[name], defs)
    return Explained(table, effects(contrib, matrix, defs, numeric), segments)


DRIFT_POINTS, DRIFT_SPACING_DAYS = 14, 5  # ten weeks of nightly populations, every weekday
DRIFT_MIN_ROWS = 100
DRIFT_MAX_ROWS = 200_000


def drift_reference(
    tables: Tables, spec: FeatureSpec, end: pd.Timestamp, learned_from: Part
) -> DriftReference:
    """What a scoring run's features are compared with: the leads that were open at each
    of DRIFT_POINTS as-of times, DRIFT_SPACING_DAYS apart, up to the end of the training data
    (the population a nightly run scores, point in time; leads closed later count as open
    then). Five days apart, the as-of times fall on every weekday, so weekly rhythms (a
    newsletter every Tuesday) do not read as drift on the other days.
    Comparing open leads with the training grid of closed leads would flag lead age and
    recency features every night. With fewer than DRIFT_MIN_ROWS such rows, the training
    rows themselves are the reference."""
    categories = {name: len(values) for name, values in spec.categories.items()}
    frames = []
    for point in range(DRIFT_POINTS):
        as_of = end - pd.Timedelta(days=point * DRIFT_SPACING_DAYS)
        is_open, _ = open_leads(tables.leads, as_of)
        frames.append(rows_as_of(tables.leads.loc[is_open, schema.LEAD_ID], as_of))
    rows = pd.concat(frames, ignore_index=True)
    if len(rows) > DRIFT_MAX_ROWS:
        keep = np.random.default_rng(0).choice(len(rows), DRIFT_MAX_ROWS, replace=False)
        rows = rows.iloc[np.sort(keep)].reset_index(drop=True)
    if len(rows) >= DRIFT_MIN_ROWS:
        features = build_features(tables.leads, tables.activities, rows, spec)
        return DriftReference.fit(to_matrix(features, spec), spec.feature_names, categories)
    return DriftReference.fit(
        to_matrix(learned_from.x, spec), spec.feature_names, categories, learned_from.w
    )


def training_set(
    tables: Tables, config: Config, source: str, spec: FeatureSpec | None = None
) -> tuple[FeatureSpec, pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Spec (learned here unless given), point-in-time training rows and their features."""
    end = data_end(tables)
    if spec is None:
        spec = fit_spec(
            tables.leads, tables.activities, config.features, time_order(tables.leads, config)
        )
    rows = snapshot_rows(tables.leads, config, end)
    if rows.empty:
        raise NotEnoughDataError(
            source,
            "no training rows: every closed lead closed within its first snapshot step",
            expected=f"leads open for longer than {config.split.snapshot_every_days} days, or a "
            "smaller split.snapshot_every_days",
        )
    features = build_features(tables.leads, tables.activities, rows, spec)
    return spec, rows, features, end


def time_order(leads: pd.DataFrame, config: Config) -> np.ndarray | None:
    """The leads' time order as a sort key: creation time, or the row position when the
    export's rows are in time order; None when the export says nothing about time."""
    if schema.CREATED_AT in leads.columns:
        created = to_epoch_seconds(leads[schema.CREATED_AT])
        return np.where(np.isnan(created), np.inf, created)
    if config.export.row_order_is_time:
        return leads.index.to_numpy(dtype="float64")
    return None


def lead_inflow(leads: pd.DataFrame) -> Inflow | None:
    """The inflow of all leads (open ones too) over the history, None without creation times."""
    return Inflow.of(leads[schema.CREATED_AT] if schema.CREATED_AT in leads.columns else None)


def snapshot_rows(
    leads: pd.DataFrame, config: Config, end: pd.Timestamp, inflow: Inflow | None = None
) -> pd.DataFrame:
    """The training rows of the closed leads on the snapshot grid (``config.split``),
    weighted against the lead inflow (of these leads unless given); when the export's rows
    are in time order, a lead's row position in it is its order time."""
    if inflow is None:
        inflow = lead_inflow(leads)
    rows = training_rows(
        leads,
        every_days=config.split.snapshot_every_days,
        max_rows_per_lead=config.split.max_rows_per_lead,
        no_close_date_horizon_days=config.split.no_close_date_horizon_days,
        data_end=end,
        inflow=inflow,
    )
    if config.export.row_order_is_time:
        position = pd.Series(leads.index.to_numpy(), index=leads[schema.LEAD_ID])
        rows[ORDER_TIME] = rows[schema.LEAD_ID].map(position).to_numpy(dtype=float)
    return rows


def gate_leaks(
    spec: FeatureSpec,
    rows: pd.DataFrame,
    features: pd.DataFrame,
    in_train: np.ndarray,
    config: Config,
) -> tuple[FeatureSpec, pd.DataFrame, list[Leak]]:
    """The statistical leakage gate on the training period, before anything is fitted."""
    leaks = find_leaks(
        features[in_train].reset_index(drop=True),
        rows.loc[in_train, LABEL].to_numpy(),
        rows.loc[in_train, schema.LEAD_ID].to_numpy(),
        spec.definitions(),
        config.leakage,
    )
    for leak in leaks:
        log.warning("%s", leak.describe())
    excluded = excluded_features(leaks, spec.definitions())
    if excluded:
        spec = spec.without(excluded)
        features = features[spec.feature_names]
    if not spec.feature_names:
        gone = f": the leakage gate excluded {', '.join(excluded)}" if excluded else ""
        raise InputError(
            "training data",
            f"no feature is left to learn from{gone}",
            expected="at least one column or activity type known before the outcome; check "
            "the column roles (`leadscore inspect` shows them) or keep a column the gate "
            "excluded wrongly with `leakage.keep`",
        )
    return spec, features, leaks


def within_horizon(
    leads: pd.DataFrame, rows: pd.DataFrame, period: np.ndarray, config: Config
) -> tuple[pd.DataFrame, float | None]:
    """The rows labelled with the probability the product gives: a win within H days of the
    as-of, and H in days (None without creation and close times: then the eventual outcome).

    H runs from the history's first lead to the start of the latest period (the leads that
    calibrate the registered model): the longest remaining life every lead closing in that
    period could have shown. A later win would be seen only from the oldest leads, so it
    counts as not won within H; the log says how many such rows there are."""
    if (
        schema.CREATED_AT not in leads.columns
        or schema.CLOSED_AT not in leads.columns
        or config.export.row_order_is_time
    ):
        return rows, None
    first = leads[schema.CREATED_AT].min()
    latest = rows.loc[period == TEST, ORDER_TIME].min()
    if pd.isna(first) or not np.isfinite(latest):
        return rows, None
    horizon = float(latest - to_epoch_seconds(pd.Series([first]))[0])
    closed_at = to_epoch_seconds(
        rows[schema.LEAD_ID].map(leads.set_index(schema.LEAD_ID)[schema.CLOSED_AT])
    )
    late = (rows[LABEL] == 1).to_numpy() & (
        closed_at - to_epoch_seconds(rows[schema.AS_OF]) > horizon
    )
    days = round(horizon / SECONDS_PER_DAY, 1)
    log.info(
        "Probabilities are of a win within %g days of the as-of (from the first lead to the "
        "start of the latest period); %d of %d won rows came later and count as not won "
        "within that horizon",
        days, int(late.sum()), int((rows[LABEL] == 1).sum()),
    )  # fmt: skip
    if late.any():
        rows = rows.copy()
        rows.loc[late, LABEL] = 0
    return rows, days


def fold_preparer(tables: Tables, config: Config, rows: pd.DataFrame, folds: int) -> PrepareFold:
    """For the rolling-origin backtest: each fold learns, as ``fit`` does, only from what it
    could have known. Its feature spec (vocabularies, column roles including the values of
    the period) comes from the leads it trains on and their activities before its slice
    begins; the leakage gate runs on its train period; rounds, monotone constraints and tuned
    settings are chosen on its train and calibration periods (a tuning budget is shared
    between the folds)."""
    order = time_order(tables.leads, config)
    tuning = config.tuning.model_copy(
        update={"budget_seconds": config.tuning.budget_seconds / max(folds, 1)}
    )

    def prepare(labels: np.ndarray) -> FoldInputs:
        past = rows[schema.LEAD_ID].to_numpy()[(labels == TRAIN) | (labels == CALIBRATION)]
        known = tables.leads[schema.LEAD_ID].isin(past).to_numpy()
        activities = tables.activities
        if activities is not None:
            activities = activities[activities[schema.LEAD_ID].isin(past)]
            start = rows.loc[labels == TEST, ORDER_TIME].min()  # epoch seconds, or a row
            if not config.export.row_order_is_time and np.isfinite(start):  # position
                began = pd.Timestamp(int(start), unit="s", tz="UTC")
                activities = activities[activities[schema.OCCURRED_AT] < began]
        spec = fit_spec(
            tables.leads[known],
            activities,
            config.features,
            None if order is None else order[known],
        )
        used = labels != LATER
        fold_rows, fold_labels = rows[used].reset_index(drop=True), labels[used]
        features = build_features(tables.leads, tables.activities, fold_rows, spec)
        spec, features, _ = gate_leaks(spec, fold_rows, features, fold_labels == TRAIN, config)
        parts = parts_of(fold_rows, features, fold_labels)
        choice = choose_booster(spec, parts[TRAIN], parts[CALIBRATION], config.lightgbm, tuning)
        return FoldInputs(spec, parts, choice)

    return prepare


def fit(tables: Tables, config: Config, source: str, progress: Progress | None = None) -> Fitted:
    """Build point-in-time training rows, split forward in time, gate leaks, fit, calibrate,
    threshold, backtest and evaluate; ``progress`` hears of each stage."""
    notes = check_enough(tables.leads, source, config)
    stages = Stages(progress)
    with stages.stage("training rows"):
        spec, rows, features, end = training_set(tables, config, source)
    period, how = split_by_time(rows, config.split.calibration_share, config.split.test_share)
    rows, horizon = within_horizon(tables.leads, rows, period, config)
    if horizon is not None:
        notes.append(
            f"probabilities are of a win within {horizon:g} days of the as-of (the history's "
            "first lead to the start of the latest period, which calibrates the model)"
        )
    spec, features, leaks = gate_leaks(spec, rows, features, period == TRAIN, config)
    log.info(
        "Training rows: %d from %d closed leads; split %s",
        len(rows), rows[schema.LEAD_ID].nunique(), how,
    )  # fmt: skip
    parts: dict[str, Part] = {}
    for name in (TRAIN, CALIBRATION, TEST):
        mask = period == name
        part = Part(rows[mask].reset_index(drop=True), features[mask].reset_index(drop=True))
        if part.rows[LABEL].nunique() < 2:
            raise NotEnoughDataError(
                source,
                f"the {name} period has only one outcome ({len(part.rows)} rows)",
                expected="won and lost leads in every period of the forward split",
            )
        parts[name] = part
    train, cal, test = parts[TRAIN], parts[CALIBRATION], parts[TEST]
    inflow = (
        weekly_inflow(tables.leads[schema.CREATED_AT], end)
        if schema.CREATED_AT in tables.leads.columns
        else None
    )

    # 1. Evaluation: train -> calibration -> test, each later in time than the one before.
    with stages.stage("evaluation"):
        choice = choose_booster(spec, train, cal, config.lightgbm, config.tuning)
        notes += list(choice.notes)
        evaluation = forward(spec, train, cal, choice, config.calibration, judged=choice.booster)
        scores, p_cal = evaluation.scores, evaluation.p_recent
        thresholds = thresholds_for(p_cal, cal, config.thresholds, inflow)
        evaluated = LeadScoringModel(spec, evaluation.booster, evaluation.calibrator, thresholds)
        p_test = evaluated.predict_proba(test.x)
        metrics = evaluate(test.y, p_test, test.w)
        learned_from = Part.join(train, cal)
        baseline = fit_baseline(learned_from.x, learned_from.y, learned_from.w, spec)
        p_base = baseline_proba(baseline, test.x, spec)
        baseline_metrics = evaluate(test.y, p_base, test.w)
        calibration_metrics = evaluate(cal.y, p_cal, cal.w)
        tiers_test = tier_table(HeldOut.of(p_test, test.y, test.w, test.lead), thresholds)
        shift = drift_warning(parts, p_test)
        if shift:
            notes.append(shift)

    # 2. The rolling-origin backtest of the same recipe.
    history = None
    if config.backtest.folds > 0:
        with stages.stage("backtest"):
            history = backtest(
                rows,
                fold_preparer(tables, config, rows, config.backtest.folds),
                folds=config.backtest.folds,
                fold_share=config.backtest.fold_share,
                calibration_share=config.split.calibration_share,
                calibration_method=config.calibration,
                points_rule=config.backtest.points,
            )

    # 3. The registered model: the evaluated booster calibrated on the latest period and
    # thresholded there, then refitted with it (see models/recipe.py, Forward).
    with stages.stage("registered model"):
        final = forward(
            spec, learned_from, test, choice, config.calibration, judged=evaluation.booster
        )
        p_final = final.p_recent
        final_thresholds = thresholds_for(p_final, test, config.thresholds, inflow)
        tiers_final = tier_table(HeldOut.of(p_final, test.y, test.w, test.lead), final_thresholds)
        everything = Part.join(learned_from, test)
        periods = {
            name: {
                "leads": int(part.rows[schema.LEAD_ID].nunique()),
                "rows": len(part.rows),
                "first_as_of": str(part.rows[schema.AS_OF].min()),
                "last_as_of": str(part.rows[schema.AS_OF].max()),
                "win_rate": float(np.average(part.y, weights=part.w)),
            }
            for name, part in parts.items()
        }
        model = LeadScoringModel(
            spec,
            final.booster,
            final.calibrator,
            final_thresholds,
            metadata={
                "data_end": end.isoformat(),
                "rounds": choice.rounds,
                "monotone": choice.monotone,
                "lightgbm": choice.settings.model_dump(),
                "split": how,
                "horizon_days": horizon,
                "periods": periods,
                "weekly_inflow": inflow,
                "fingerprint": tables.fingerprint,
                "evaluation_metrics": metrics,
                # The promise shown to users and checked by `monitor`: measured out of time (the
                # same policy's thresholds from the calibration period, realised on the most
                # recent leads, which they never saw), not on the rows the thresholds came from.
                "tier_table": tiers_test.to_dict("records"),
                "tier_table_basis": "out of time: thresholds learned on the calibration period, "
                "win rates on the most recent period",
                "tier_table_in_sample": tiers_final.to_dict("records"),
            },
            drift=drift_reference(tables, spec, end, everything),
            judged=final.judged,
        )
    with stages.stage("explanations"):
        explained = explain_test(model, test.x, config.report.segments)
    log.info("Training stages: %s", stages.describe())
    return Fitted(
        model=model,
        rows=rows,
        period=period,
        split=how,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        calibration_metrics=calibration_metrics,
        calibration_scores=scores,
        final_metrics=evaluate(test.y, p_final, test.w),
        tiers_test=tiers_test,
        tiers_final=tiers_final,
        p_test=p_test,
        p_baseline=p_base,
        baseline=baseline,
        explained=explained,
        backtest=history,
        leaks=leaks,
        notes=notes + list(final_thresholds.notes),
        seconds=stages.seconds,
    )
