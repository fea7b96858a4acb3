"""`leadscore features`: the feature table as of a date, or the training rows, for
inspection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadscore.features import schema
from leadscore.features.build import FeatureSpec, build_features, fit_spec
from leadscore.features.registry import registry_frame
from leadscore.features.snapshots import rows_as_of
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import time_order, training_set
from leadscore.pipelines.io.tables import load_tables
from leadscore.pipelines.io.targets import as_of_column, output_format, write_atomic


@dataclass(frozen=True)
class FeatureTableInfo:
    rows: int
    features: int


def write_feature_table(
    leads_path: Path,
    activities_path: Path | None,
    as_of: pd.Timestamp,
    output: Path,
    config: Config,
    spec: FeatureSpec | None = None,
) -> tuple[FeatureTableInfo, Path]:
    """Features of every lead created before ``as_of`` (open or closed), with the given
    spec or one learned from these tables; the registry goes to ``<output>.registry.csv``."""
    fmt = output_format(output)
    tables = load_tables(leads_path, activities_path, config)
    if spec is None:
        spec = fit_spec(
            tables.leads, tables.activities, config.features, time_order(tables.leads, config)
        )
    leads = tables.leads
    exists = (
        (leads[schema.CREATED_AT] < as_of).fillna(True)
        if schema.CREATED_AT in leads.columns
        else pd.Series(True, index=leads.index)
    )
    ids = leads.loc[exists.astype(bool), schema.LEAD_ID]
    rows = rows_as_of(ids, as_of)
    features = build_features(leads, tables.activities, rows, spec)
    table = pd.concat([rows[[schema.LEAD_ID]], features], axis=1)
    table.insert(1, schema.AS_OF, as_of_column(as_of, len(table), fmt))
    registry_path = output.with_name(f"{output.stem}.registry.csv")
    write_atomic(registry_frame(spec.definitions()), registry_path, "csv")
    write_atomic(table, output, fmt)
    return FeatureTableInfo(len(table), len(spec.feature_names)), registry_path


def write_training_rows(
    leads_path: Path,
    activities_path: Path | None,
    output: Path,
    config: Config,
    spec: FeatureSpec | None = None,
) -> tuple[FeatureTableInfo, Path]:
    """The training rows exactly as ``train`` builds them (every closed lead on the snapshot
    grid before its close: lead, as-of, label, weight, order time, features), sorted by lead
    and as-of time; the registry goes to ``<output>.registry.csv``."""
    fmt = output_format(output)
    tables = load_tables(leads_path, activities_path, config)
    learned, rows, features, _ = training_set(tables, config, str(leads_path), spec)
    table = pd.concat([rows, features], axis=1)
    table = table.sort_values([schema.LEAD_ID, schema.AS_OF], kind="stable").reset_index(drop=True)
    registry_path = output.with_name(f"{output.stem}.registry.csv")
    write_atomic(registry_frame(learned.definitions()), registry_path, "csv")
    write_atomic(table, output, fmt)
    return FeatureTableInfo(len(table), len(learned.feature_names)), registry_path
