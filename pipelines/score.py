"""The batch scoring job: every lead open as of a date gets a probability, a tier and its
reasons, stamped with the model version and the as-of time."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.features.snapshots import rows_as_of
from leadscore.pipelines import tracking
from leadscore.pipelines.config import Config
from leadscore.pipelines.tables import REJECT_COLUMNS, InputError, Tables, load_tables

log = logging.getLogger(__name__)

OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class ScoreResult:
    output: Path
    rejects_path: Path
    scored: int
    rejected: int
    not_open: int
    tier_counts: dict[str, int]
    model_version: str


def rejects_path_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects{output.suffix}")


def output_format(output: Path) -> str:
    fmt = OUTPUT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise InputError(
            str(output),
            "unsupported output format",
            expected=f"a path ending in {sorted(OUTPUT_FORMATS)}",
        )
    return fmt


def open_leads(leads: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(open as of the date, created at or after it). A lead is open at T when it existed
    before T and had no outcome yet at T; leads closed later than T count as open at T."""
    n = len(leads)
    created_before = (
        (leads[schema.CREATED_AT] < as_of).fillna(True).astype(bool)
        if schema.CREATED_AT in leads.columns
        else pd.Series(True, index=leads.index)
    )
    if schema.OUTCOME in leads.columns:
        no_outcome = leads[schema.OUTCOME].isna()
    else:
        no_outcome = pd.Series(True, index=leads.index)
    if schema.CLOSED_AT in leads.columns:
        closed_later = (leads[schema.CLOSED_AT] >= as_of).fillna(False).astype(bool)
    else:
        closed_later = pd.Series(False, index=leads.index)
    still_open = no_outcome | closed_later
    assert len(still_open) == n
    return created_before & still_open, ~created_before


def write_atomic(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write to a temporary file in the target folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def as_of_column(as_of: pd.Timestamp, n: int, fmt: str) -> pd.Series:
    if fmt == "csv":
        return pd.Series([as_of.strftime("%Y-%m-%dT%H:%M:%SZ")] * n, dtype="object")
    return pd.Series([as_of] * n, dtype="datetime64[us, UTC]")


def score(
    leads_path: Path,
    activities_path: Path | None,
    as_of: pd.Timestamp,
    output: Path,
    model_uri: str,
    config: Config,
) -> ScoreResult:
    """Score every lead open as of ``as_of``; write scores and rejects atomically."""
    fmt = output_format(output)
    tables: Tables = load_tables(leads_path, activities_path, config)
    resolved = tracking.load_model(model_uri)
    model = resolved.model

    is_open, created_later = open_leads(tables.leads, as_of)
    leads_source = str(leads_path)
    lead_rejects = pd.DataFrame(
        {
            "source": leads_source,
            "row": np.flatnonzero(created_later.to_numpy()) + 1,
            schema.LEAD_ID: tables.leads.loc[created_later, schema.LEAD_ID].to_numpy(),
            "reason": f"created at or after the as-of time {as_of.isoformat()}",
        }
    )
    rejects = pd.concat(
        [r for r in (lead_rejects, tables.rejects) if not r.empty]
        or [pd.DataFrame(columns=list(REJECT_COLUMNS))],
        ignore_index=True,
    )
    to_score = tables.leads[is_open]
    rows = rows_as_of(to_score[schema.LEAD_ID], as_of)
    if len(rows):
        features = build_features(tables.leads, tables.activities, rows, model.spec)
        probability = model.predict_proba(features)
        tiers = model.tiers(probability)
        reasons = model.reasons(
            features, config.scoring.max_reasons, config.scoring.min_reason_contribution
        )
    else:
        probability, tiers, reasons = np.zeros(0), np.zeros(0, dtype=object), []
    scored = pd.DataFrame(
        {
            schema.LEAD_ID: rows[schema.LEAD_ID].astype("object"),
            schema.PROBABILITY: probability.astype("float64"),
            schema.TIER: pd.Series(tiers, dtype="object"),
            schema.REASONS: pd.Series(reasons, dtype="object"),
            schema.MODEL_VERSION: resolved.label,
            schema.AS_OF: as_of_column(as_of, len(rows), fmt),
        }
    )
    _check_output(scored)
    rejects_path = rejects_path_for(output)
    write_atomic(rejects.astype({"row": "int64"}), rejects_path, fmt)
    write_atomic(scored, output, fmt)
    not_open = int((~is_open & ~created_later).sum())
    counts = scored[schema.TIER].value_counts().reindex(list(schema.TIERS), fill_value=0)
    log.info(
        "Scored %d open leads as of %s with %s; %d not open; %d rejected rows -> %s",
        len(scored),
        as_of.isoformat(),
        resolved.label,
        not_open,
        len(rejects),
        rejects_path,
    )
    return ScoreResult(
        output=output,
        rejects_path=rejects_path,
        scored=len(scored),
        rejected=len(rejects),
        not_open=not_open,
        tier_counts={k: int(v) for k, v in counts.items()},
        model_version=resolved.label,
    )


def _check_output(scored: pd.DataFrame) -> None:
    """The contract of the output, checked before anything is written."""
    assert list(scored.columns) == list(schema.OUTPUT_COLUMNS), scored.columns
    p = scored[schema.PROBABILITY].to_numpy()
    if len(p) and not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise RuntimeError("scoring produced probabilities outside 0..1; nothing was written")
    if not scored[schema.TIER].isin(schema.TIERS).all():
        raise RuntimeError("scoring produced an unknown tier; nothing was written")
    if scored[schema.LEAD_ID].duplicated().any():
        raise RuntimeError("scoring produced duplicate lead ids; nothing was written")
