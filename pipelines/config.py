"""Typed configuration: a YAML file (optional) resolved once at the CLI edge into frozen
pydantic models and passed down explicitly. Nothing here touches disk at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leadscore.features import schema
from leadscore.features.build import FeatureSettings
from leadscore.features.leakage import LeakageSettings

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ConfigError(ValueError):
    """A config file that cannot be used; the message says which key and why."""


class OutcomeSpellings(BaseModel):
    """How the export spells outcomes. Compared case- and whitespace-insensitively."""

    model_config = _FROZEN

    won: tuple[str, ...] = (
        "won",
        "win",
        "1",
        "1.0",
        "true",
        "yes",
        "y",
        "closed won",
        "closed-won",
        "closed_won",
        "converted",
        "customer",
        "gewonnen",
    )
    lost: tuple[str, ...] = (
        "lost",
        "lose",
        "0",
        "0.0",
        "false",
        "no",
        "n",
        "closed lost",
        "closed-lost",
        "closed_lost",
        "disqualified",
        "unqualified",
        "not converted",
        "verloren",
    )
    open: tuple[str, ...] = ("", "open", "in progress", "working", "new", "nan", "none", "null")

    @model_validator(mode="after")
    def _disjoint(self) -> OutcomeSpellings:
        won = {v.strip().lower() for v in self.won}
        lost = {v.strip().lower() for v in self.lost}
        open_ = {v.strip().lower() for v in self.open}
        clash = (won & lost) | (won & open_) | (lost & open_)
        if clash:
            raise ValueError(f"outcome spellings used for two meanings: {sorted(clash)}")
        return self


class ColumnMapping(BaseModel):
    """Export column name -> contract column name, per table."""

    model_config = _FROZEN

    leads: dict[str, str] = Field(default_factory=dict)
    activities: dict[str, str] = Field(default_factory=dict)


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
    early_stopping_rounds: int = Field(default=50, ge=1)
    seed: int = 7
    num_threads: int = Field(default=2, ge=1)


class TierPolicy(BaseModel):
    """How one tier threshold is learned from outcomes on held-out recent data.

    - ``win_rate``: the lowest threshold whose leads (at or above it) still win at least
      ``target`` of the time.
    - ``capture_share``: the highest threshold that keeps ``target`` of all eventual wins
      at or above it.
    - ``top_share``: the top ``target`` share of leads."""

    model_config = _FROZEN

    policy: Literal["win_rate", "capture_share", "top_share"]
    target: float = Field(gt=0.0, le=1.0)


class ThresholdSettings(BaseModel):
    model_config = _FROZEN

    sql: TierPolicy = TierPolicy(policy="win_rate", target=0.5)
    mql: TierPolicy = TierPolicy(policy="capture_share", target=0.9)
    min_tier_rows: int = Field(
        default=30, ge=1, description="A tier needs this many held-out rows to be trusted."
    )


class RegistrySettings(BaseModel):
    model_config = _FROZEN

    model_name: str = Field(default="lead-conversion", min_length=1)
    experiment: str = Field(default="leadscore", min_length=1)
    gate_metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    gate_tolerance: float = Field(
        default=0.0,
        ge=0.0,
        description="How much worse than the champion still counts as not worse.",
    )


class ScoringSettings(BaseModel):
    model_config = _FROZEN

    max_reasons: int = Field(default=4, ge=1, le=10)
    min_reason_contribution: float = Field(
        default=0.02,
        ge=0.0,
        description="Contributions (log-odds) smaller than this are not named.",
    )


class Config(BaseModel):
    model_config = _FROZEN

    columns: ColumnMapping = ColumnMapping()
    outcome_values: OutcomeSpellings = OutcomeSpellings()
    features: FeatureSettings = FeatureSettings()
    leakage: LeakageSettings = LeakageSettings()
    split: SplitSettings = SplitSettings()
    lightgbm: LightGBMSettings = LightGBMSettings()
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    thresholds: ThresholdSettings = ThresholdSettings()
    registry: RegistrySettings = RegistrySettings()
    scoring: ScoringSettings = ScoringSettings()

    @model_validator(mode="after")
    def _mapping_targets(self) -> Config:
        allowed_activity = {schema.LEAD_ID, schema.OCCURRED_AT, schema.ACTIVITY_TYPE, schema.VALUE}
        bad = sorted(set(self.columns.activities.values()) - allowed_activity)
        if bad:
            raise ValueError(
                f"columns.activities maps onto unknown contract columns {bad}; "
                f"expected some of {sorted(allowed_activity)}"
            )
        return self


def load_config(path: Path | None) -> Config:
    """Read a YAML config (safe loader). No path: all defaults."""
    if path is None:
        return Config()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
