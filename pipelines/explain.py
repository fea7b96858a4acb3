"""`leadscore explain`: one lead's probability, tier and every factor behind it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.features.snapshots import open_leads, rows_as_of
from leadscore.pipelines.config import Config
from leadscore.pipelines.errors import InputError
from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.sources import Source
from leadscore.pipelines.io.tables import config_for_model, load_tables


@dataclass(frozen=True)
class LeadExplanation:
    lead_id: str
    as_of: pd.Timestamp
    is_open: bool
    probability: float
    tier: str
    raw_score: float  # log-odds before calibration
    base_value: float  # the model's average log-odds
    factors: pd.DataFrame  # label, value (in words), contribution; strongest first
    model_version: str


def explain_lead(
    lead_id: str,
    leads: Source,
    activities: Source | None,
    as_of: pd.Timestamp,
    model_uri: str,
    config: Config | None,
) -> LeadExplanation:
    """``config`` None (no --config): the export is read as the model's training export was
    (the column mapping and outcome spellings stored with the model)."""
    resolved = tracking.load_model(model_uri)
    model = resolved.model
    config = config_for_model(config, model.reading, resolved.label)
    tables = load_tables(leads, activities, config)
    match = tables.leads[schema.LEAD_ID] == lead_id.strip()
    rejected = tables.lead_rejects[tables.lead_rejects[schema.LEAD_ID] == lead_id.strip()]
    if not match.any() and len(rejected):
        raise InputError(
            leads.label,
            f"lead {lead_id!r} was set aside: {rejected['reason'].iloc[0]}",
            column=schema.LEAD_ID,
            rows=[int(r) for r in rejected["row"]],
            expected="a lead without row-level faults",
        )
    if not match.any():
        raise InputError(
            leads.label, f"no lead with id {lead_id!r}", column=schema.LEAD_ID,
            expected="the id of a lead in the leads table",
        )  # fmt: skip
    if schema.CREATED_AT in tables.leads.columns:
        created = tables.leads.loc[match, schema.CREATED_AT].iloc[0]
        if pd.notna(created) and created >= as_of:
            raise InputError(
                leads.label,
                f"lead {lead_id!r} was created at {created.isoformat()}, not before the as-of "
                f"time {as_of.isoformat()}",
                expected="an as-of time after the lead existed",
            )
    is_open, _ = open_leads(tables.leads[match], as_of)
    rows = rows_as_of(tables.leads.loc[match, schema.LEAD_ID], as_of)
    features = build_features(tables.leads, tables.activities, rows, model.spec)
    matrix = model.matrix(features)
    raw = float(model.raw_score(matrix)[0])
    probability = float(model.predict_proba(matrix)[0])
    contrib, base = model.contributions(matrix)
    defs = model.spec.definitions()
    order = np.argsort(-np.abs(contrib[0]), kind="stable")
    factors = pd.DataFrame(
        {
            "factor": [defs[j].label for j in order],
            "value": [
                defs[j].format_value(
                    None
                    if pd.isna(features[defs[j].name].iloc[0])
                    else features[defs[j].name].iloc[0]
                )
                for j in order
            ],
            "contribution": contrib[0, order],
        }
    )
    return LeadExplanation(
        lead_id=lead_id.strip(),
        as_of=as_of,
        is_open=bool(is_open.iloc[0]),
        probability=probability,
        tier=str(model.tiers(np.array([probability]))[0]),
        raw_score=raw,
        base_value=float(base[0]),
        factors=factors,
        model_version=resolved.label,
    )
