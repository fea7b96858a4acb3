"""Judging a trained recipe the way it will be used: train on one generated CRM world as of
its export date, score the leads open at that date in another world (a different seed), and
compare with the outcomes that only the generator knows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.models.booster import baseline_proba
from leadscore.models.metrics import evaluate
from leadscore.pipelines.config import Config
from leadscore.pipelines.score import open_leads
from leadscore.pipelines.synthetic import World
from leadscore.pipelines.tables import prepare_tables
from leadscore.pipelines.train import fit


def holdout_quality(train_world: World, holdout_world: World, config: Config) -> dict[str, Any]:
    """Metrics of the registered-model recipe and of the logistic baseline on the leads
    open at the holdout world's export date, against their eventual outcomes."""
    train_tables = prepare_tables(train_world.leads, train_world.activities, config)
    fitted = fit(train_tables, config, "generated training world")
    tables = prepare_tables(holdout_world.leads, holdout_world.activities, config)
    as_of = holdout_world.now
    is_open, _ = open_leads(tables.leads, as_of)
    ids = tables.leads.loc[is_open, schema.LEAD_ID].to_numpy()
    rows = pd.DataFrame(
        {
            schema.LEAD_ID: ids,
            schema.AS_OF: pd.Series([as_of] * len(ids), dtype="datetime64[us, UTC]"),
        }
    )
    features = build_features(tables.leads, tables.activities, rows, fitted.model.spec)
    truth = holdout_world.truth.set_index(schema.LEAD_ID)[schema.OUTCOME].reindex(ids)
    y = (truth == schema.WON).to_numpy(dtype=int)
    p_model = fitted.model.predict_proba(features)
    p_baseline = baseline_proba(fitted.baseline, features, fitted.model.spec)
    tiers = fitted.model.tiers(p_model)
    tier_rates = {
        tier: float(y[tiers == tier].mean()) if (tiers == tier).any() else float("nan")
        for tier in schema.TIERS
    }
    return {
        "open_leads": len(ids),
        "model": evaluate(y, p_model),
        "baseline": evaluate(y, p_baseline),
        "out_of_time_test": fitted.metrics,
        "out_of_time_baseline": fitted.baseline_metrics,
        "tier_win_rates": tier_rates,
        "tier_shares": {t: float(np.mean(tiers == t)) for t in schema.TIERS},
    }
