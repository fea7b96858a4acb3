"""Typed configuration: a YAML file (optional) resolved once at the CLI edge into frozen
pydantic models and passed down explicitly. Nothing here touches disk at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leadscore.features import schema
from leadscore.features.build import FeatureSettings
from leadscore.features.leakage import LeakageSettings
from leadscore.models.settings import (
    BacktestSettings,
    LightGBMSettings,
    MinimumData,
    SplitSettings,
    ThresholdSettings,
    TuningSettings,
)

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
        "closed - converted",  # Salesforce lead status
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
        "closed - not converted",  # Salesforce lead status
        "bad timing",  # HubSpot lead status
    )
    open: tuple[str, ...] = (
        "",
        "open",
        "in progress",
        "working",
        "new",
        "nan",
        "none",
        "null",
        "offen",
        "open - not contacted",  # Salesforce lead status
        "working - contacted",
        "attempted to contact",  # HubSpot lead status
        "connected",
        "open deal",
        "inquiry",  # lifecycle stages before the outcome (Marketo, HubSpot)
        "mql",
        "sql",
        "opportunity",
    )

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

    @field_validator("leads", "activities", mode="before")
    @classmethod
    def _empty_section(cls, value: object) -> object:
        """A YAML key whose entries are all commented out reads as null: no entries."""
        return {} if value is None else value


class ExportSettings(BaseModel):
    """Facts about an export that its columns cannot tell, and how many faulty rows of its
    leads table to set aside before refusing it."""

    model_config = _FROZEN

    row_number_as_lead_id: bool = Field(
        default=False,
        description="The export has no id column: use the data row number (1, 2, ...) as lead_id.",
    )
    row_order_is_time: bool = Field(
        default=False,
        description="Rows are in time order (no timestamps): split forward by row position.",
    )
    max_rejected_share: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Leads-table rows with a row-level fault (empty or duplicate lead_id, "
        "unparsable created_at / closed_at, unknown outcome, closed_at before created_at) are "
        "set aside as rejects with the reason while they are at most this share of the rows; "
        "more stop the job (exit code 2). 0 stops it at the first such row.",
    )


class Questions(BaseModel):
    """Choices `inspect` could not make from the data. `train` and `backtest` stop (exit 2)
    until each is settled by the user; nothing is guessed."""

    model_config = _FROZEN

    outcome: tuple[str, ...] = Field(
        default=(),
        description="Columns that could each be the outcome: map the right one onto `outcome` "
        "under columns.leads (or pass --outcome COLUMN).",
    )
    known_before_outcome: tuple[str, ...] = Field(
        default=(),
        description="Columns that may be recorded at or after the outcome: give each a role "
        "under features.column_roles (ignore, or numeric / categorical to use it).",
    )


class RegistrySettings(BaseModel):
    model_config = _FROZEN

    model_name: str = Field(default="lead-conversion", min_length=1)
    experiment: str = Field(default="leadscore", min_length=1)
    scoring_experiment: str = Field(
        default="leadscore-scoring",
        min_length=1,
        description="Experiment of the nightly score and monitor runs, apart from training.",
    )
    gate_metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    gate_tolerance: float = Field(
        default=0.0,
        ge=0.0,
        description="How much worse than the champion still counts as not worse.",
    )


class ReportSettings(BaseModel):
    model_config = _FROZEN

    segments: tuple[str, ...] = Field(
        default=("lead_source", "industry"),
        description="Lead columns (contract names) whose values get their own importances "
        "in the training run and the report; columns the data lacks are skipped.",
    )


class ScoringSettings(BaseModel):
    model_config = _FROZEN

    max_reasons: int = Field(default=4, ge=1, le=10)
    threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads for predictions and reasons; empty: the CPUs this process may "
        "use (affinity and cgroup quota), not the machine's count.",
    )
    min_reason_contribution: float = Field(
        default=0.02,
        ge=0.0,
        description="Contributions (log-odds) smaller than this are not named.",
    )
    chunk_leads: int = Field(
        default=100_000,
        ge=1,
        description="Leads per chunk: memory follows the chunk, not the table.",
    )
    lock_timeout_seconds: float = Field(
        default=3600.0,
        ge=0.0,
        description="How long a run waits for another run writing the same target.",
    )
    drift_alarm_psi: float = Field(
        default=0.25,
        gt=0.0,
        description="A feature whose population stability index against the training rows "
        "exceeds this raises the drift alarm (exit code 3; scores are still written).",
    )
    work_dir: str | None = Field(
        default=None,
        description="Folder for the chunks of a large run (default: the system's temp).",
    )


class Config(BaseModel):
    model_config = _FROZEN

    columns: ColumnMapping = ColumnMapping()
    outcome_values: OutcomeSpellings = OutcomeSpellings()
    export: ExportSettings = ExportSettings()
    questions: Questions = Questions()
    features: FeatureSettings = FeatureSettings()
    leakage: LeakageSettings = LeakageSettings()
    minimum_data: MinimumData = MinimumData()
    split: SplitSettings = SplitSettings()
    lightgbm: LightGBMSettings = LightGBMSettings()
    tuning: TuningSettings = TuningSettings()
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    thresholds: ThresholdSettings = ThresholdSettings()
    backtest: BacktestSettings = BacktestSettings()
    registry: RegistrySettings = RegistrySettings()
    scoring: ScoringSettings = ScoringSettings()
    report: ReportSettings = ReportSettings()

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


def open_questions(config: Config) -> list[str]:
    """The questions of ``config.questions`` not yet settled, each as one sentence to show."""
    out = []
    mapped = set(config.columns.leads.values())
    if config.questions.outcome and schema.OUTCOME not in mapped:
        candidates = ", ".join(repr(c) for c in config.questions.outcome)
        out.append(
            f"Which column is the outcome: {candidates}? Map it under `columns.leads` "
            f'(e.g. "{config.questions.outcome[0]}": outcome) or pass --outcome COLUMN.'
        )
    settled = set(config.features.column_roles) | set(config.leakage.keep)
    undecided = [c for c in config.questions.known_before_outcome if c not in settled]
    if undecided:
        names = ", ".join(repr(c) for c in undecided)
        out.append(
            f"Is {names} known before the outcome? Each separates won from lost so well on "
            "its own that it may be recorded at or after the decision. Set its role under "
            "`features.column_roles`: ignore (recorded afterwards) or numeric / categorical "
            "(known before)."
        )
    return out


def require_settled(config: Config) -> None:
    """Stop (ConfigError, exit 2) while the config holds open questions: a model trained on
    a guessed outcome or a leaking column is the worst result this tool can give."""
    questions = open_questions(config)
    if questions:
        raise ConfigError(
            "the config leaves a question open, so nothing is trained until it is answered: "
            + " ".join(questions)
        )


def with_outcome(config: Config, column: str) -> Config:
    """``config`` with ``column`` as the outcome (``--outcome``): it replaces any other
    column mapped onto `outcome`, loses any role it had, and settles the outcome question."""
    leads = {k: v for k, v in config.columns.leads.items() if v != schema.OUTCOME}
    leads[column] = schema.OUTCOME
    roles = {k: v for k, v in config.features.column_roles.items() if k != column}
    return config.model_copy(
        update={
            "columns": config.columns.model_copy(update={"leads": leads}),
            "questions": config.questions.model_copy(update={"outcome": ()}),
            "features": config.features.model_copy(update={"column_roles": roles}),
        }
    )


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
