"""Fit the feature vocabulary on training data, then build point-in-time feature rows.

``build_features`` is the one function that turns the contract's tables into model input,
for training rows and nightly scoring alike. A row ``(lead_id, as_of)`` sees only the
lead's attributes and the activities with ``occurred_at < as_of``. Rows are processed in
chunks of leads, so memory is bounded by the chunk, not by the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadscore.features import schema, text
from leadscore.features.activity import ActivityStats, ChunkEvents, EventFlags
from leadscore.features.attributes import Role, infer_roles, looks_like_email, parse_numbers
from leadscore.features.keys import positions
from leadscore.features.registry import (
    CATEGORICAL,
    COMPANY_SIZE,
    EMAIL_CLICK,
    EMAIL_OPEN,
    EMAIL_SENT,
    FIRST_RESPONSE,
    LEAD_AGE,
    OTHER_ACTIVITY,
    FeatureDef,
    Group,
    Kind,
    Stat,
    activity_type_features,
    attribute_feature,
    attribute_slug,
    categorical_feature,
    email_features,
    group_features,
    site_features,
)
from leadscore.features.timeutil import SECONDS_PER_DAY, parse_utc, to_epoch_seconds

log = logging.getLogger(__name__)

SPEC_VERSION = 2
ACTIVITY_STATS = frozenset(Stat) - {
    Stat.LEAD_AGE, Stat.CATEGORY, Stat.NUMBER, Stat.DATE_AGE,
}  # fmt: skip


class FeatureSettings(BaseModel):
    """What the feature pipeline may use; part of the YAML config (`features:`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows_days: tuple[int, ...] = Field(default=(7, 30, 90), min_length=1)
    excluded_activity_types: tuple[str, ...] = Field(
        default=("meeting", "sales_call"),
        description="Sales-side activity types: they record what sales already chose to do.",
    )
    outbound_activity_types: tuple[str, ...] = Field(
        default=("email_sent",),
        description="What marketing did to the lead, not the lead's own action.",
    )
    high_intent_activity_types: tuple[str, ...] = (
        "pricing_page_view", "demo_request", "trial_signup", "quote_request", "form_submit",
        "contact_request",
    )  # fmt: skip
    min_activity_type_count: int = Field(default=20, ge=1)
    min_category_count: int = Field(default=20, ge=1)
    max_categories: int = Field(default=30, ge=1)
    min_value_share: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Share of rows with a value for a value total."
    )
    rate_prior_strength: float = Field(
        default=5.0, ge=0.0, description="E-mail rates shrink towards the overall rate."
    )
    synonyms: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Extra synonyms per column: {column: {spelling: canonical}} (lower case).",
    )
    column_roles: dict[str, Role] = Field(
        default_factory=dict,
        description="Override the inferred role of extra lead columns.",
    )

    @field_validator("column_roles", "synonyms", mode="before")
    @classmethod
    def _empty_section(cls, value: object) -> object:
        """A YAML key whose entries are all commented out reads as null: no entries."""
        return {} if value is None else value


@dataclass(frozen=True)
class FeatureSpec:
    """Everything the feature pipeline learned from training data. Stored with the model,
    so scoring builds exactly the columns training built."""

    windows_days: tuple[int, ...]
    activity_types: tuple[str, ...]
    value_types: tuple[str, ...]
    excluded_activity_types: tuple[str, ...]
    outbound_activity_types: tuple[str, ...]
    high_intent_activity_types: tuple[str, ...]
    has_activities: bool
    has_created_at: bool
    email_prior: tuple[float, float] = (0.0, 0.0)  # open rate, click rate per e-mail sent
    has_email_rates: tuple[bool, bool] = (False, False)
    rate_prior_strength: float = 5.0
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()  # (column, role) of extra lead columns
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)
    excluded_features: tuple[str, ...] = ()  # dropped by the leakage gate
    version: int = SPEC_VERSION

    def all_definitions(self) -> list[FeatureDef]:
        """Every feature this spec can build, before the leakage gate's exclusions."""
        defs: list[FeatureDef] = []
        if self.has_activities:
            for activity_type in (*self.activity_types, OTHER_ACTIVITY):
                defs += activity_type_features(
                    activity_type, self.windows_days, activity_type in self.value_types
                )
            defs += group_features(Group.ACTIVITIES, self.windows_days)
            defs += group_features(Group.HIGH_INTENT, self.windows_days)
            if self.value_types:
                defs += site_features(self.windows_days)
            else:
                defs += [d for d in site_features(self.windows_days) if d.kind is Kind.COUNT]
            defs += email_features(*self.has_email_rates)
            defs.append(FIRST_RESPONSE)
        if self.has_created_at:
            defs.append(LEAD_AGE)
        if COMPANY_SIZE.name in self.numeric:
            defs.append(COMPANY_SIZE)
        defs += [categorical_feature(name) for name in self.categories if name in CATEGORICAL]
        defs += [attribute_feature(column, role) for column, role in self.attributes]
        return defs

    def definitions(self) -> list[FeatureDef]:
        """The model's features in column order: numeric ones first, then categorical."""
        excluded = set(self.excluded_features)
        kept = [d for d in self.all_definitions() if d.name not in excluded]
        return sorted(kept, key=lambda d: d.kind is Kind.CATEGORY)

    @property
    def feature_names(self) -> list[str]:
        return [d.name for d in self.definitions()]

    @property
    def categorical_names(self) -> list[str]:
        return [d.name for d in self.definitions() if d.kind is Kind.CATEGORY]

    def without(self, features: list[str]) -> FeatureSpec:
        return replace(self, excluded_features=tuple(sorted({*self.excluded_features, *features})))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["categories"] = {k: list(v) for k, v in self.categories.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            windows_days=tuple(data["windows_days"]),
            activity_types=tuple(data["activity_types"]),
            value_types=tuple(data["value_types"]),
            excluded_activity_types=tuple(data["excluded_activity_types"]),
            outbound_activity_types=tuple(data["outbound_activity_types"]),
            high_intent_activity_types=tuple(data["high_intent_activity_types"]),
            has_activities=bool(data["has_activities"]),
            has_created_at=bool(data["has_created_at"]),
            email_prior=(float(data["email_prior"][0]), float(data["email_prior"][1])),
            has_email_rates=(bool(data["has_email_rates"][0]), bool(data["has_email_rates"][1])),
            rate_prior_strength=float(data["rate_prior_strength"]),
            categories={k: tuple(v) for k, v in data["categories"].items()},
            numeric=tuple(data["numeric"]),
            attributes=tuple((str(c), str(r)) for c, r in data["attributes"]),
            synonyms={k: dict(v) for k, v in data["synonyms"].items()},
            excluded_features=tuple(data["excluded_features"]),
            version=int(data["version"]),
        )


# -- lead attributes ------------------------------------------------------------------------


def _synonyms(name: str, extra: dict[str, dict[str, str]]) -> dict[str, str]:
    merged = dict(text.SYNONYMS.get(name, {}))
    merged.update({k.strip().lower(): v.strip().lower() for k, v in extra.get(name, {}).items()})
    return merged


def lead_categoricals(
    leads: pd.DataFrame,
    synonyms: dict[str, dict[str, str]],
    attributes: tuple[tuple[str, str], ...] = (),
) -> dict[str, pd.Series]:
    """Normalised categorical values per lead (feature name -> values), before vocabularies."""
    out: dict[str, pd.Series] = {}
    for name, (_, source, _) in CATEGORICAL.items():
        if source not in leads.columns:
            continue
        column = leads[source]
        if name == "seniority":
            out[name] = text.seniority(column)
        elif name == "job_function":
            out[name] = text.job_function(column)
        elif name == "email_domain_kind":
            out[name] = text.email_domain_kind(column)
        elif name == "company_size_band":
            sizes, _ = text.parse_company_size(column)
            out[name] = text.company_size_band(sizes)
        else:
            values = text.normalise_category(column, _synonyms(name, synonyms))
            out[name] = values.fillna(text.MISSING)
    for column, role in attributes:
        if role == Role.CATEGORICAL:
            values = (
                text.normalise_category(leads[column], _synonyms(column, synonyms))
                if column in leads.columns
                else pd.Series(pd.NA, index=leads.index, dtype="string")
            )
            out[attribute_slug(column)] = values.fillna(text.MISSING)
    return out


def _vocabulary(values: pd.Series, settings: FeatureSettings) -> tuple[str, ...]:
    """The frequent values (stored with the model); an e-mail address never is one, even in
    a column set to categorical by config: it counts as ``other``."""
    counts = values[values != text.MISSING].value_counts()
    counts = counts[~looks_like_email(pd.Series(counts.index, dtype="string")).to_numpy()]
    frequent = counts[counts >= settings.min_category_count].index[: settings.max_categories]
    vocabulary = sorted(str(v) for v in frequent if v not in (text.OTHER, text.MISSING))
    return (*vocabulary, text.OTHER, text.MISSING)


@dataclass(frozen=True)
class ActivitySummary:
    """All that the feature spec and the data end learn from the activities: per normalised
    activity type, the rows, the rows with a value, and the latest time. Adds up over any
    partition of the table, so a cluster can learn it bucket by bucket (``combine``)."""

    counts: pd.DataFrame  # index: activity type; columns ROWS, WITH_VALUE, LATEST
    has_value: bool

    ROWS = "rows"
    WITH_VALUE = "with_value"
    LATEST = "latest"

    @classmethod
    def of(cls, activities: pd.DataFrame) -> ActivitySummary:
        types = activities[schema.ACTIVITY_TYPE].astype("object")
        has_value = schema.VALUE in activities.columns
        present = (
            activities[schema.VALUE].notna()
            if has_value
            else pd.Series(False, index=activities.index)
        )
        frame = pd.DataFrame(
            {
                "type": types,
                cls.ROWS: 1,
                cls.WITH_VALUE: present.astype("int64"),
                cls.LATEST: activities[schema.OCCURRED_AT],
            }
        )
        counts = frame.groupby("type", sort=True).agg(
            {cls.ROWS: "sum", cls.WITH_VALUE: "sum", cls.LATEST: "max"}
        )
        counts.index = counts.index.astype(str)
        return cls(counts, has_value)

    @classmethod
    def combine(cls, parts: list[ActivitySummary]) -> ActivitySummary:
        frames = [p.counts for p in parts if not p.counts.empty]
        if not frames:
            return cls(cls._empty(), any(p.has_value for p in parts))
        counts = (
            pd.concat(frames)
            .groupby(level=0, sort=True)
            .agg({cls.ROWS: "sum", cls.WITH_VALUE: "sum", cls.LATEST: "max"})
        )
        return cls(counts, any(p.has_value for p in parts))

    @classmethod
    def _empty(cls) -> pd.DataFrame:
        return pd.DataFrame(
            {
                cls.ROWS: pd.Series(dtype="int64"),
                cls.WITH_VALUE: pd.Series(dtype="int64"),
                cls.LATEST: pd.Series(dtype="datetime64[us, UTC]"),
            },
            index=pd.Index([], dtype=object),
        )

    @property
    def latest(self) -> pd.Timestamp | None:
        """The latest activity time, or None without activities."""
        value = self.counts[self.LATEST].max() if not self.counts.empty else None
        return None if value is None or pd.isna(value) else pd.Timestamp(value)


def fit_spec(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    settings: FeatureSettings,
    order: np.ndarray | None = None,
) -> FeatureSpec:
    """Learn vocabularies (activity types, categories), column roles and e-mail base rates
    from the training tables; ``order`` is the leads' time order when known (a sort key per
    lead), for telling values of a period from values of a lead (``infer_roles``)."""
    summary = ActivitySummary.of(activities) if activities is not None else None
    return fit_spec_from(leads, summary, settings, order)


def fit_spec_from(
    leads: pd.DataFrame,
    activities: ActivitySummary | None,
    settings: FeatureSettings,
    order: np.ndarray | None = None,
) -> FeatureSpec:
    """``fit_spec`` from the leads and a summary of the activities (see ActivitySummary)."""
    excluded = tuple(sorted(settings.excluded_activity_types))
    activity_types: tuple[str, ...] = ()
    value_types: tuple[str, ...] = ()
    email_prior = (0.0, 0.0)
    has_rates = (False, False)
    if activities is not None:
        counts = activities.counts[ActivitySummary.ROWS]
        counts = counts[(counts > 0) & ~counts.index.isin(excluded)]
        frequent = counts[counts >= settings.min_activity_type_count].index
        activity_types = tuple(sorted(str(t) for t in frequent if t != OTHER_ACTIVITY))
        if activities.has_value:
            share = (
                activities.counts[ActivitySummary.WITH_VALUE]
                / activities.counts[ActivitySummary.ROWS]
            )
            value_types = tuple(
                t
                for t in activity_types
                if share.get(t, 0.0) >= settings.min_value_share
                and t not in settings.outbound_activity_types
            )
        rare = sorted(set(counts.index) - set(activity_types))
        if rare:
            log.info(
                "Activity types counted in the 'other' bucket (fewer than %d rows): %s",
                settings.min_activity_type_count,
                ", ".join(map(str, rare[:20])),
            )
        sent = float(counts.get(EMAIL_SENT, 0))
        if sent > 0:
            email_prior = (
                min(float(counts.get(EMAIL_OPEN, 0)) / sent, 1.0),
                min(float(counts.get(EMAIL_CLICK, 0)) / sent, 1.0),
            )
            has_rates = (EMAIL_OPEN in counts.index, EMAIL_CLICK in counts.index)
    roles = infer_roles(leads, dict(settings.column_roles), settings.max_categories, order)
    for role in roles:
        if role.role == Role.IGNORE:
            log.info("Column '%s' is not used: %s", role.column, role.reason)
        else:
            log.info("Column '%s' is used as %s (%s)", role.column, role.role, role.reason)
    attributes = tuple((r.column, str(r.role)) for r in roles if r.role != Role.IGNORE)
    synonyms = {k: dict(v) for k, v in settings.synonyms.items()}
    categories = {
        name: _vocabulary(values, settings)
        for name, values in lead_categoricals(leads, synonyms, attributes).items()
    }
    return FeatureSpec(
        windows_days=tuple(sorted(set(settings.windows_days))),
        activity_types=activity_types,
        value_types=value_types,
        excluded_activity_types=excluded,
        outbound_activity_types=tuple(settings.outbound_activity_types),
        high_intent_activity_types=tuple(settings.high_intent_activity_types),
        has_activities=activities is not None,
        has_created_at=schema.CREATED_AT in leads.columns,
        email_prior=email_prior,
        has_email_rates=has_rates,
        rate_prior_strength=settings.rate_prior_strength,
        categories=categories,
        numeric=(COMPANY_SIZE.name,) if schema.COMPANY_SIZE in leads.columns else (),
        attributes=attributes,
        synonyms=synonyms,
    )


# -- building -------------------------------------------------------------------------------


def _lead_positions(leads: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Position of each id in ``leads`` (-1 if absent). Categorical ids whose categories are
    the leads' own ids (as the table reader makes them) cost nothing to map."""
    lead_ids = leads[schema.LEAD_ID]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        categories = ids.cat.categories
        codes = ids.cat.codes.to_numpy()
        mapping = (
            np.arange(len(categories))
            if categories.equals(pd.Index(lead_ids))
            else positions(lead_ids, pd.Series(categories))
        )
        mapping = np.append(mapping, -1)  # code -1 (missing) -> -1
        return mapping[codes]
    return positions(lead_ids, ids)


def _event_flags(spec: FeatureSpec, raw_types: pd.Index) -> tuple[EventFlags, dict[str, int], int]:
    vocabulary = (*spec.activity_types, OTHER_ACTIVITY)
    type_index = {t: i for i, t in enumerate(vocabulary)}
    names = [str(t) for t in raw_types]
    excluded = set(spec.excluded_activity_types)
    outbound = set(spec.outbound_activity_types)
    high = set(spec.high_intent_activity_types)

    def flag(test: Any) -> np.ndarray:
        return np.array([bool(test(t)) for t in names], dtype=bool)

    modelled = flag(lambda t: t not in excluded)
    inbound = modelled & flag(lambda t: t not in outbound)
    flags = EventFlags(
        vocab_code=np.array(
            [type_index.get(t, type_index[OTHER_ACTIVITY]) for t in names], dtype="int64"
        ),
        inbound=inbound,
        high_intent=inbound & flag(lambda t: t in high),
        on_site=inbound & flag(lambda t: t in spec.value_types),
        modelled=modelled,
        outbound=modelled & flag(lambda t: t in outbound),
        sent=flag(lambda t: t == EMAIL_SENT),
        opened=flag(lambda t: t == EMAIL_OPEN),
        clicked=flag(lambda t: t == EMAIL_CLICK),
    )
    return flags, type_index, len(vocabulary)


@dataclass(frozen=True)
class _PreparedEvents:
    lead: np.ndarray
    time: np.ndarray
    raw_type: np.ndarray
    value: np.ndarray
    flags: EventFlags
    type_index: dict[str, int]
    n_types: int


def _prepare_events(
    leads: pd.DataFrame, activities: pd.DataFrame | None, spec: FeatureSpec
) -> _PreparedEvents:
    if activities is None or activities.empty:
        lead = np.zeros(0, dtype="int64")
        time = np.zeros(0)
        raw_codes = np.zeros(0, dtype="int64")
        raw_types = pd.Index([], dtype=object)
        value = np.zeros(0)
    else:
        lead = _lead_positions(leads, activities[schema.LEAD_ID])
        time = to_epoch_seconds(activities[schema.OCCURRED_AT])
        raw_codes, raw_types = pd.factorize(activities[schema.ACTIVITY_TYPE], use_na_sentinel=True)
        value = (
            activities[schema.VALUE].to_numpy(dtype="float64", na_value=np.nan)
            if schema.VALUE in activities.columns
            else np.zeros(len(activities))
        )
        usable = (lead >= 0) & (raw_codes >= 0) & ~np.isnan(time)
        if not usable.all():
            lead, time, raw_codes, value = (
                lead[usable],
                time[usable],
                raw_codes[usable],
                value[usable],
            )
        value = np.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0)
    flags, type_index, n_types = _event_flags(spec, pd.Index(raw_types))
    return _PreparedEvents(
        lead, time, np.asarray(raw_codes, dtype="int64"), value, flags, type_index, n_types
    )


def _chunks(
    row_lead: np.ndarray, event_lead: np.ndarray, n_leads: int, max_pairs: int
) -> Iterator[tuple[int, int]]:
    """Ranges of lead positions whose (rows x events) pairs stay under ``max_pairs``."""
    rows = np.bincount(row_lead, minlength=n_leads)
    events = np.bincount(event_lead, minlength=n_leads)
    cost = np.cumsum(rows * np.maximum(events, 1) + rows)
    start = 0
    while start < n_leads:
        base = cost[start - 1] if start else 0
        end = int(np.searchsorted(cost, base + max_pairs, side="right"))
        end = max(end, start + 1)
        yield start, min(end, n_leads)
        start = end


def build_features(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    rows: pd.DataFrame,
    spec: FeatureSpec,
    max_pairs: int = 8_000_000,
) -> pd.DataFrame:
    """Feature frame for ``rows`` (columns ``lead_id``, ``as_of``), in the same order.

    ``leads`` and ``activities`` are the contract's tables after reading (canonical names,
    UTC timestamps, activity types normalised). Nothing is mutated. Numeric features are
    float64; categorical ones use the spec's fixed categories."""
    row_lead = _lead_positions(leads, rows[schema.LEAD_ID])
    if (row_lead < 0).any():
        raise ValueError("build_features: rows reference lead ids that are not in leads")
    as_of = to_epoch_seconds(rows[schema.AS_OF])
    defs = spec.definitions()
    numeric = [d for d in defs if d.kind is not Kind.CATEGORY]
    # One float block, filled column by column: no per-column arrays to stack afterwards.
    matrix = np.full((len(rows), len(numeric)), np.nan, order="F")
    column_of = {d.name: j for j, d in enumerate(numeric)}
    activity_defs = [d for d in numeric if d.stat in ACTIVITY_STATS]
    if spec.has_activities and activity_defs:
        _fill_activity_columns(
            matrix, column_of, leads, activities, spec, activity_defs, row_lead, as_of, max_pairs
        )
    categorical = _fill_lead_columns(matrix, column_of, leads, defs, spec, row_lead, as_of)
    frame = pd.DataFrame(matrix, columns=list(column_of), index=rows.index, copy=False)
    for name, values in categorical.items():
        frame[name] = values
    return frame


def _fill_activity_columns(
    matrix: np.ndarray,
    column_of: dict[str, int],
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    spec: FeatureSpec,
    defs: list[FeatureDef],
    row_lead: np.ndarray,
    as_of: np.ndarray,
    max_pairs: int,
) -> None:
    events = _prepare_events(leads, activities, spec)
    n_leads = len(leads)
    created = (
        to_epoch_seconds(leads[schema.CREATED_AT])
        if schema.CREATED_AT in leads.columns
        else np.full(n_leads, np.nan)
    )
    row_order = np.argsort(row_lead, kind="stable")
    sorted_leads = row_lead[row_order]
    for low, high in _chunks(row_lead, events.lead, n_leads, max_pairs):
        lo, hi = np.searchsorted(sorted_leads, [low, high], side="left")
        if lo == hi:
            continue
        chunk_rows = row_order[lo:hi]
        in_chunk = (events.lead >= low) & (events.lead < high)
        chunk_events = ChunkEvents(
            lead=events.lead[in_chunk] - low,
            time=events.time[in_chunk],
            raw_type=events.raw_type[in_chunk],
            value=events.value[in_chunk],
        )
        stats = ActivityStats(
            row_lead=row_lead[chunk_rows] - low,
            as_of=as_of[chunk_rows],
            created=created[row_lead[chunk_rows]],
            n_leads=high - low,
            events=chunk_events,
            flags=events.flags,
            n_types=events.n_types,
            windows_days=spec.windows_days,
            email_prior=spec.email_prior,
            rate_prior_strength=spec.rate_prior_strength,
        )
        for d in defs:
            matrix[chunk_rows, column_of[d.name]] = stats.compute(d, events.type_index)


def _fill_lead_columns(
    matrix: np.ndarray,
    column_of: dict[str, int],
    leads: pd.DataFrame,
    defs: list[FeatureDef],
    spec: FeatureSpec,
    row_lead: np.ndarray,
    as_of: np.ndarray,
) -> dict[str, pd.Categorical]:
    """Fill the numeric lead columns into ``matrix``; return the categorical ones."""
    columns: dict[str, Any] = {}
    by_name = {d.name: d for d in defs}
    if LEAD_AGE.name in by_name and schema.CREATED_AT in leads.columns:
        created = to_epoch_seconds(leads[schema.CREATED_AT])[row_lead]
        matrix[:, column_of[LEAD_AGE.name]] = (as_of - created) / SECONDS_PER_DAY
    if COMPANY_SIZE.name in by_name and schema.COMPANY_SIZE in leads.columns:
        sizes, _ = text.parse_company_size(leads[schema.COMPANY_SIZE])
        matrix[:, column_of[COMPANY_SIZE.name]] = sizes.to_numpy(dtype="float64")[row_lead]
    wanted = [name for name in spec.categories if name in by_name]
    if wanted:
        per_lead = lead_categoricals(leads, spec.synonyms, spec.attributes)
        for name in wanted:
            categories = spec.categories[name]
            other = categories.index(text.OTHER)
            if name in per_lead:
                value_codes, uniques = pd.factorize(per_lead[name])
                vocabulary_codes = pd.Index(categories).get_indexer(pd.Index(uniques, dtype=object))
                vocabulary_codes = np.append(
                    np.where(vocabulary_codes < 0, other, vocabulary_codes), other
                )
                codes = vocabulary_codes[value_codes][row_lead]
            else:
                codes = np.full(len(row_lead), categories.index(text.MISSING))
            columns[name] = pd.Categorical.from_codes(
                np.asarray(codes, dtype="int64"), dtype=pd.CategoricalDtype(list(categories))
            )
    for column, role in spec.attributes:
        d = by_name.get(attribute_slug(column))
        if d is None or role == Role.CATEGORICAL:
            continue
        if column not in leads.columns:
            continue  # stays missing
        if role == Role.NUMERIC:
            values = parse_numbers(leads[column]).to_numpy(dtype="float64")[row_lead]
        else:  # date: days before as-of; a date at or after as-of is not known yet
            when = to_epoch_seconds(parse_utc(leads[column]))[row_lead]
            days = (as_of - when) / SECONDS_PER_DAY
            values = np.where(days > 0, days, np.nan)
        matrix[:, column_of[d.name]] = values
    return columns
