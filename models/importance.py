"""What drives the score, in business terms: mean absolute TreeSHAP contribution and gain per
feature, rolled up to the business field a feature comes from (an activity type, a lead
attribute) and to the three families, with the direction of each feature's effect and where
it flattens."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.registry import ACTIVITY_WORDS, FeatureDef, Kind

FIELD_WORDS = {
    "created_at": "Lead age",
    "company_size": "Company size",
    "lead_source": "Lead source",
    "job_title": "Job title",
    "email": "E-mail domain",
    "country": "Country",
    "industry": "Industry",
    "group:time_on_site": "Time on site",
    "group:active_days": "Active days",
    "group:first_response": "First response to e-mails",
}
EFFECT_BINS = 10


def field_label(origin: str) -> str:
    """The business field a feature comes from, in words (never a column name)."""
    if origin in FIELD_WORDS:
        return FIELD_WORDS[origin]
    if origin.startswith("activity:"):
        kind = origin.removeprefix("activity:")
        return ACTIVITY_WORDS.get(kind, (kind.replace("_", " ").capitalize(), ""))[0]
    if origin.startswith("group:"):
        return origin.removeprefix("group:").replace("_", " ").capitalize()
    return origin.replace("_", " ").strip().capitalize()


def _direction(values: np.ndarray, contrib: np.ndarray) -> str:
    """Does more of it raise or lower the score (rank correlation of value and contribution
    over the rows where the feature is present)?"""
    present = ~np.isnan(values)
    if present.sum() < 10 or np.std(values[present]) == 0:
        return "n/a"
    if np.std(contrib[present]) == 0:
        return "no effect"
    rho = pd.Series(values[present]).corr(pd.Series(contrib[present]), method="spearman")
    if not np.isfinite(rho) or abs(rho) < 0.1:
        return "mixed"
    return "more raises the score" if rho > 0 else "more lowers the score"


def importance_table(
    contrib: np.ndarray, matrix: np.ndarray, gain: np.ndarray, defs: list[FeatureDef]
) -> pd.DataFrame:
    """One row per feature: label, family, business field, mean |contribution|, gain, and
    the direction of its effect (numeric features)."""
    table = pd.DataFrame(
        {
            "feature": [d.name for d in defs],
            "label": [d.label for d in defs],
            "family": [str(d.family) for d in defs],
            "field": [field_label(d.origin) for d in defs],
            "mean_abs_contribution": np.abs(contrib).mean(axis=0) if len(contrib) else 0.0,
            "gain": gain,
            "direction": [
                "by category"
                if d.kind is Kind.CATEGORY
                else _direction(matrix[:, j], contrib[:, j])
                for j, d in enumerate(defs)
            ],
        }
    )
    return table.sort_values("mean_abs_contribution", ascending=False).reset_index(drop=True)


def rollup(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Importance summed per business field or family, with each one's share."""
    grouped = (
        table.groupby(by, sort=False)
        .agg(
            mean_abs_contribution=("mean_abs_contribution", "sum"),
            gain=("gain", "sum"),
            features=("feature", "count"),
        )
        .sort_values("mean_abs_contribution", ascending=False)
        .reset_index()
    )
    total = grouped["mean_abs_contribution"].sum()
    grouped["share"] = grouped["mean_abs_contribution"] / total if total > 0 else 0.0
    return grouped


def effects(
    contrib: np.ndarray, matrix: np.ndarray, defs: list[FeatureDef], features: list[str]
) -> pd.DataFrame:
    """For each named numeric feature, the mean contribution in bins of its value (deciles of
    the rows where it is present, plus "missing"): the shape of its effect, and where it
    flattens."""
    index = {d.name: j for j, d in enumerate(defs)}
    records = []
    for name in features:
        j = index[name]
        values, c = matrix[:, j], contrib[:, j]
        present = ~np.isnan(values)
        if present.sum() >= EFFECT_BINS:
            edges = np.unique(np.quantile(values[present], np.linspace(0, 1, EFFECT_BINS + 1)))
            which = np.clip(np.searchsorted(edges, values[present], side="right") - 1, 0, None)
            which = np.minimum(which, max(len(edges) - 2, 0))
            for b in np.unique(which):
                sel = which == b
                records.append(
                    {
                        "feature": name,
                        "label": defs[j].label,
                        "value": float(np.mean(values[present][sel])),
                        "mean_contribution": float(np.mean(c[present][sel])),
                        "rows": int(sel.sum()),
                        "missing": False,
                    }
                )
        if (~present).any():
            records.append(
                {
                    "feature": name,
                    "label": defs[j].label,
                    "value": float("nan"),
                    "mean_contribution": float(np.mean(c[~present])),
                    "rows": int((~present).sum()),
                    "missing": True,
                }
            )
    return pd.DataFrame.from_records(
        records, columns=["feature", "label", "value", "mean_contribution", "rows", "missing"]
    )


def by_segment(
    contrib: np.ndarray,
    segments: pd.Series,
    defs: list[FeatureDef],
    top_values: int = 6,
    top_fields: int = 3,
) -> pd.DataFrame:
    """For the most common values of one segment column (e.g. lead source), which business
    fields move the score most for those leads: one row per (value, field) with its share."""
    fields = np.array([field_label(d.origin) for d in defs], dtype=object)
    values = segments.astype("string").fillna("unknown").to_numpy(dtype=object)
    records = []
    for value in pd.Series(values).value_counts().head(top_values).index:
        rows = values == value
        weight = pd.Series(np.abs(contrib[rows]).mean(axis=0)).groupby(fields).sum()
        weight = weight.sort_values(ascending=False)
        total = float(weight.sum())
        for field_name, w in weight.head(top_fields).items():
            records.append(
                {
                    "value": str(value).replace("_", " "),
                    "leads": int(rows.sum()),
                    "field": field_name,
                    "share": float(w) / total if total > 0 else 0.0,
                }
            )
    return pd.DataFrame.from_records(records, columns=["value", "leads", "field", "share"])
