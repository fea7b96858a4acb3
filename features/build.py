"""Fit the feature vocabulary on training data, then build point-in-time feature rows.

``build_features`` is the one function that turns the contract's tables into model input,
for training rows and nightly scoring alike. A row ``(lead_id, as_of)`` sees only the
lead's attributes and the activities with ``occurred_at < as_of``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from leadscore.features import schema, text
from leadscore.features.registry import (
    CATEGORICAL,
    COMPANY_SIZE,
    LEAD_AGE,
    OTHER_ACTIVITY,
    FeatureDef,
    Kind,
    Stat,
    activity_type_features,
    categorical_feature,
    email_rate_features,
    overall_activity_features,
)
from leadscore.features.timeutil import SECONDS_PER_DAY, to_epoch_seconds
from leadscore.features.windows import EventIndex

log = logging.getLogger(__name__)

SPEC_VERSION = 1


class FeatureSettings(BaseModel):
    """What the feature pipeline may use; part of the YAML config (`features:`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows_days: tuple[int, ...] = Field(default=(7, 30, 90), min_length=1)
    excluded_activity_types: tuple[str, ...] = Field(
        default=("meeting", "sales_call"),
        description="Sales-side activity types: they record what sales already chose to do.",
    )
    min_activity_type_count: int = Field(default=20, ge=1)
    min_category_count: int = Field(default=20, ge=1)
    max_categories: int = Field(default=30, ge=1)
    min_value_share: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Share of rows with a value for a value total."
    )


@dataclass(frozen=True)
class FeatureSpec:
    """Everything the feature pipeline learned from training data. Stored with the model,
    so scoring builds exactly the columns training built."""

    windows_days: tuple[int, ...]
    activity_types: tuple[str, ...]
    value_types: tuple[str, ...]
    excluded_activity_types: tuple[str, ...]
    has_activities: bool
    has_created_at: bool
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()
    version: int = SPEC_VERSION

    def definitions(self) -> list[FeatureDef]:
        defs: list[FeatureDef] = []
        if self.has_activities:
            for activity_type in (*self.activity_types, OTHER_ACTIVITY):
                defs += activity_type_features(
                    activity_type, self.windows_days, activity_type in self.value_types
                )
            defs += overall_activity_features(self.windows_days)
            defs += email_rate_features(frozenset(self.activity_types))
        if self.has_created_at:
            defs.append(LEAD_AGE)
        if COMPANY_SIZE.name in self.numeric:
            defs.append(COMPANY_SIZE)
        defs += [categorical_feature(name) for name in self.categories]
        return defs

    @property
    def feature_names(self) -> list[str]:
        return [d.name for d in self.definitions()]

    @property
    def categorical_names(self) -> list[str]:
        return list(self.categories)

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
            has_activities=bool(data["has_activities"]),
            has_created_at=bool(data["has_created_at"]),
            categories={k: tuple(v) for k, v in data["categories"].items()},
            numeric=tuple(data["numeric"]),
            version=int(data["version"]),
        )


def lead_categoricals(leads: pd.DataFrame) -> dict[str, pd.Series]:
    """Normalised categorical attributes per lead, for the well-known columns present."""
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
        else:
            out[name] = text.normalise_category(column).fillna(text.MISSING)
    return out


def fit_spec(
    leads: pd.DataFrame, activities: pd.DataFrame | None, settings: FeatureSettings
) -> FeatureSpec:
    """Learn vocabularies (activity types, categories) from the training tables."""
    excluded = tuple(sorted(settings.excluded_activity_types))
    activity_types: tuple[str, ...] = ()
    value_types: tuple[str, ...] = ()
    if activities is not None:
        kept = activities[~activities[schema.ACTIVITY_TYPE].isin(excluded)]
        counts = kept[schema.ACTIVITY_TYPE].value_counts()
        frequent = counts[counts >= settings.min_activity_type_count].index
        activity_types = tuple(sorted(str(t) for t in frequent if t != OTHER_ACTIVITY))
        if schema.VALUE in kept.columns:
            share = kept[schema.VALUE].notna().groupby(kept[schema.ACTIVITY_TYPE]).mean()
            value_types = tuple(
                t for t in activity_types if share.get(t, 0.0) >= settings.min_value_share
            )
        rare = sorted(set(counts.index) - set(activity_types))
        if rare:
            log.info(
                "Activity types counted in the 'other' bucket (fewer than %d rows): %s",
                settings.min_activity_type_count,
                ", ".join(map(str, rare[:20])),
            )
    categories: dict[str, tuple[str, ...]] = {}
    for name, values in lead_categoricals(leads).items():
        counts = values[values != text.MISSING].value_counts()
        frequent = counts[counts >= settings.min_category_count].index[: settings.max_categories]
        vocabulary = sorted(str(v) for v in frequent if v not in (text.OTHER, text.MISSING))
        categories[name] = (*vocabulary, text.OTHER, text.MISSING)
    numeric = (COMPANY_SIZE.name,) if schema.COMPANY_SIZE in leads.columns else ()
    return FeatureSpec(
        windows_days=tuple(sorted(settings.windows_days)),
        activity_types=activity_types,
        value_types=value_types,
        excluded_activity_types=excluded,
        has_activities=activities is not None,
        has_created_at=schema.CREATED_AT in leads.columns,
        categories=categories,
        numeric=numeric,
    )


def build_features(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    rows: pd.DataFrame,
    spec: FeatureSpec,
) -> pd.DataFrame:
    """Feature frame for ``rows`` (columns ``lead_id``, ``as_of``), in the same order.

    ``leads`` and ``activities`` are the contract's tables after reading (canonical names,
    UTC timestamps, activity types normalised). Nothing is mutated. Numeric features are
    float64; categorical ones use the spec's fixed categories."""
    lead_index = pd.Index(leads[schema.LEAD_ID])
    positions = lead_index.get_indexer(rows[schema.LEAD_ID])
    if (positions < 0).any():
        raise ValueError("build_features: rows reference lead ids that are not in leads")
    as_of = to_epoch_seconds(rows[schema.AS_OF])
    defs = spec.definitions()
    columns: dict[str, Any] = {}

    if spec.has_activities:
        columns.update(_activity_columns(defs, spec, lead_index, activities, positions, as_of))
    if spec.has_created_at:
        created = to_epoch_seconds(leads[schema.CREATED_AT])[positions]
        columns[LEAD_AGE.name] = (as_of - created) / SECONDS_PER_DAY
    if COMPANY_SIZE.name in spec.numeric:
        sizes, _ = text.parse_company_size(leads[schema.COMPANY_SIZE])
        columns[COMPANY_SIZE.name] = sizes.to_numpy(dtype="float64")[positions]
    if spec.categories:
        per_lead = lead_categoricals(leads)
        for name, categories in spec.categories.items():
            other = categories.index(text.OTHER)
            if name in per_lead:
                codes = pd.Index(categories).get_indexer(pd.Index(per_lead[name].astype(object)))
                codes = np.where(codes < 0, other, codes)[positions]
            else:
                codes = np.full(len(rows), categories.index(text.MISSING))
            columns[name] = pd.Categorical.from_codes(
                np.asarray(codes, dtype="int64"), dtype=pd.CategoricalDtype(list(categories))
            )

    frame = pd.DataFrame(columns, index=rows.index)
    ordered = [d.name for d in defs]
    for d in defs:
        if d.kind is not Kind.CATEGORY:
            frame[d.name] = frame[d.name].astype("float64")
    return frame[ordered]


def _activity_columns(
    defs: list[FeatureDef],
    spec: FeatureSpec,
    lead_index: pd.Index,
    activities: pd.DataFrame | None,
    positions: np.ndarray,
    as_of: np.ndarray,
) -> dict[str, np.ndarray]:
    n_leads = len(lead_index)
    vocabulary = (*spec.activity_types, OTHER_ACTIVITY)
    type_code = {t: i for i, t in enumerate(vocabulary)}
    n_types = len(vocabulary)
    if activities is None or activities.empty:
        activities = pd.DataFrame(
            {
                schema.LEAD_ID: pd.Series([], dtype="string"),
                schema.OCCURRED_AT: pd.Series([], dtype="datetime64[us, UTC]"),
                schema.ACTIVITY_TYPE: pd.Series([], dtype="string"),
            }
        )
    kept = activities[~activities[schema.ACTIVITY_TYPE].isin(spec.excluded_activity_types)]
    lead_pos = lead_index.get_indexer(kept[schema.LEAD_ID])
    known = lead_pos >= 0
    kept, lead_pos = kept[known], lead_pos[known]
    codes = (
        kept[schema.ACTIVITY_TYPE]
        .map(type_code)
        .fillna(type_code[OTHER_ACTIVITY])
        .to_numpy(dtype="int64")
    )
    times = to_epoch_seconds(kept[schema.OCCURRED_AT])
    values = (
        kept[schema.VALUE].to_numpy(dtype="float64", na_value=np.nan)
        if schema.VALUE in kept.columns
        else None
    )
    by_type = EventIndex.build(lead_pos * n_types + codes, times, n_leads * n_types, values)
    by_lead = EventIndex.build(lead_pos, times, n_leads)

    out: dict[str, np.ndarray] = {}

    def type_groups(activity_type: str) -> np.ndarray:
        return positions * n_types + type_code[activity_type]

    for d in defs:
        if d.stat is Stat.TYPE_COUNT_WINDOW:
            assert d.activity_type is not None and d.window_days is not None
            start = as_of - d.window_days * SECONDS_PER_DAY
            out[d.name] = by_type.count_between(type_groups(d.activity_type), start, as_of)
        elif d.stat is Stat.TYPE_COUNT_TOTAL:
            assert d.activity_type is not None
            out[d.name] = by_type.count_before(type_groups(d.activity_type), as_of)
        elif d.stat is Stat.TYPE_DAYS_SINCE_LAST:
            assert d.activity_type is not None
            last = by_type.last_before(type_groups(d.activity_type), as_of)
            out[d.name] = (as_of - last) / SECONDS_PER_DAY
        elif d.stat is Stat.TYPE_VALUE_TOTAL:
            assert d.activity_type is not None
            out[d.name] = by_type.sum_before(type_groups(d.activity_type), as_of)
        elif d.stat is Stat.ANY_COUNT_WINDOW:
            assert d.window_days is not None
            start = as_of - d.window_days * SECONDS_PER_DAY
            out[d.name] = by_lead.count_between(positions, start, as_of)
        elif d.stat is Stat.ANY_COUNT_TOTAL:
            out[d.name] = by_lead.count_before(positions, as_of)
        elif d.stat is Stat.ANY_DAYS_SINCE_LAST:
            out[d.name] = (as_of - by_lead.last_before(positions, as_of)) / SECONDS_PER_DAY
        elif d.stat is Stat.ANY_DAYS_SINCE_FIRST:
            out[d.name] = (as_of - by_lead.first_before(positions, as_of)) / SECONDS_PER_DAY
        elif d.stat is Stat.RATE_TOTAL:
            assert d.activity_type is not None and d.denominator_type is not None
            numerator = by_type.count_before(type_groups(d.activity_type), as_of)
            denominator = by_type.count_before(type_groups(d.denominator_type), as_of)
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)
            out[d.name] = np.minimum(rate, 1.0)
    return out
