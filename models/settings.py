"""Typed settings of the modelling steps; part of the YAML config, resolved once at the edge
and passed down (the pipelines' ``Config`` composes them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadscore.models.thresholds import ODDS_POLICY, RATE_POLICIES, Policy

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SplitSettings(BaseModel):
    """Forward-in-time split of closed leads by their close time."""

    model_config = _FROZEN

    calibration_share: float = Field(default=0.2, gt=0.0, lt=0.5)
    test_share: float = Field(default=0.2, gt=0.0, lt=0.5)
    snapshot_every_days: int = Field(
        default=7, ge=1, description="Training rows: one as-of every N days of a lead's life."
    )
    max_rows_per_lead: int = Field(default=24, ge=1)
    no_close_date_horizon_days: int = Field(
        default=14,
        ge=1,
        description="Closed leads without closed_at get one row this many days after creation.",
    )


class LightGBMSettings(BaseModel):
    model_config = _FROZEN

    n_estimators: int = Field(default=1000, ge=1)
    learning_rate: float = Field(default=0.05, gt=0.0)
    num_leaves: int = Field(default=15, ge=2)
    min_child_samples: int = Field(default=100, ge=1)
    subsample: float = Field(default=0.8, gt=0.0, le=1.0)
    colsample_bytree: float = Field(default=0.5, gt=0.0, le=1.0)
    reg_lambda: float = Field(default=1.0, ge=0.0)
    early_stopping_rounds: int = Field(
        default=200,
        ge=1,
        description="Rounds without a better validation ROC AUC before stopping: AUC creeps "
        "up slowly and noisily at this learning rate, and a short patience stops far too early "
        "(in-vehicle coupon: 48 rounds, ROC AUC 0.78; with 200: 0.83).",
    )
    seed: int = 7
    num_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads per booster fit; empty: the CPUs this process may use (affinity "
        "and cgroup quota, models/cpus.py), not the machine's count.",
    )
    monotone: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Never let more high-intent actions lower a score: 'auto' keeps the "
        "constraint when it costs no accuracy on the calibration period.",
    )
    monotone_tolerance: float = Field(
        default=0.002, ge=0.0, description="Relative log-loss cost the constraint may have."
    )


class TuningSettings(BaseModel):
    """Optional hyperparameter search (Optuna), scored forward in time."""

    model_config = _FROZEN

    enabled: bool = False
    budget_seconds: float = Field(default=300.0, gt=0.0)
    max_trials: int = Field(default=60, ge=1)
    seed: int = 7


class TierPolicy(BaseModel):
    """How one tier threshold is learned (see ``leadscore.models.thresholds``)."""

    model_config = _FROZEN

    policy: Literal[
        "odds_ratio", "win_rate", "capture_share", "top_share", "capacity", "expected_value"
    ]
    target: float | None = Field(default=None, gt=0.0)
    deal_value: float | None = Field(default=None, gt=0.0)
    cost: float | None = Field(default=None, ge=0.0)
    max_share: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="odds_ratio only: the tier holds at most this share of leads (the best).",
    )

    @model_validator(mode="after")
    def _complete(self) -> TierPolicy:
        if self.policy == ODDS_POLICY and (self.target is None or self.target <= 1):
            raise ValueError(
                "policy odds_ratio needs a target above 1: how many times the average lead's "
                "odds of closing a lead must have to reach the tier"
            )
        if self.max_share is not None and self.policy != ODDS_POLICY:
            raise ValueError(f"max_share applies to policy odds_ratio only, not {self.policy}")
        if self.policy in RATE_POLICIES and (self.target is None or self.target > 1):
            raise ValueError(f"policy {self.policy} needs a target between 0 and 1")
        if self.policy == "capacity" and self.target is None:
            raise ValueError("policy capacity needs a target: leads per week")
        if self.policy == "expected_value" and (self.deal_value is None or self.cost is None):
            raise ValueError("policy expected_value needs deal_value and cost")
        return self

    def as_policy(self) -> Policy:
        return Policy(self.policy, self.target, self.deal_value, self.cost, self.max_share)


class ThresholdSettings(BaseModel):
    """Default: SQL leads have at least 3 times the average lead's odds of closing and are at
    most 30% of leads; MQL leads, below SQL, at least 1.5 times (see
    ``leadscore.models.thresholds``)."""

    model_config = _FROZEN

    sql: TierPolicy = TierPolicy(policy="odds_ratio", target=3.0, max_share=0.3)
    mql: TierPolicy = TierPolicy(policy="odds_ratio", target=1.5)
    min_tier_rows: int = Field(
        default=30, ge=1, description="A tier needs this many held-out rows to be trusted."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdSettings:
        both = self.sql.policy == self.mql.policy == ODDS_POLICY
        if both and (self.mql.target or 0.0) >= (self.sql.target or 0.0):
            raise ValueError(
                f"thresholds: MQL's odds_ratio target ({self.mql.target:g}) must be below "
                f"SQL's ({self.sql.target:g}), or SQL would not stand out from MQL"
            )
        return self


class BacktestSettings(BaseModel):
    """Rolling-origin backtest: train on the past, judge on the next slice, several times."""

    model_config = _FROZEN

    folds: int = Field(default=4, ge=0, description="0 turns the backtest off.")
    fold_share: float = Field(
        default=0.1, gt=0.0, lt=0.5, description="Share of closed leads judged per fold."
    )
    points: dict[str, float] | None = Field(
        default=None,
        description="The points rule to compare with: {activity type | column | column=value: "
        "points}. Default: fixed points per marketing action.",
    )


class MinimumData(BaseModel):
    model_config = _FROZEN

    min_class_leads: int = Field(
        default=20, ge=2, description="Refuse to train with fewer won or lost leads."
    )
    comfortable_class_leads: int = Field(
        default=200, ge=2, description="Warn, with the expected uncertainty, below this."
    )
