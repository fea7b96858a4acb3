"""`leadscore inspect`: the first look at a raw CRM export. Profiles every column, finds the
id, the outcome and the timestamps by their evidence (not by their names), flags likely leaks
and personal data, judges whether there is enough history to learn from, and writes a
starter config, every choice commented, that the analyst edits (or trains with as it is)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadscore.features import schema
from leadscore.features.attributes import Role, infer_role, present_text
from leadscore.features.text import PLACEHOLDERS
from leadscore.features.timeutil import parse_utc
from leadscore.pipelines.config import Config
from leadscore.pipelines.sources import Source

STRONG_ALONE_AUC = 0.80  # a single pre-sale signal rarely separates won from lost this well
DECIDES_AUC = 0.95
PURITY = 0.99
_SLUG = re.compile(r"[^0-9a-z]+")
STAGE_WORDS = frozenset(
    {"qualified", "proposal", "negotiation", "closed", "opportunity", "contract sent", "demo done"}
)


@dataclass(frozen=True)
class ColumnProfile:
    column: str
    role: str  # id, outcome, created_at, closed_at, numeric, categorical, date, personal data...
    missing_share: float
    distinct: int
    examples: list[str]
    note: str


@dataclass(frozen=True)
class Leak:
    column: str
    reason: str


@dataclass
class Inspection:
    source: str
    rows: int
    columns: list[ColumnProfile]
    id_column: str | None
    outcome_column: str | None
    outcome_counts: dict[str, int]  # raw value -> rows
    outcome_mapping: dict[str, str]  # raw value (lower case) -> won / lost / open / ?
    created_column: str | None
    closed_column: str | None
    time_span: tuple[str, str] | None
    leaks: list[Leak]
    placeholders: dict[str, int]  # placeholder spelling -> cells treated as missing
    won: int = 0
    lost: int = 0
    open: int = 0
    readiness: list[str] = field(default_factory=list)
    activities: dict[str, Any] = field(default_factory=dict)


def _slug(name: str) -> str:
    return _SLUG.sub("_", name.strip().lower()).strip("_")


def _outcome_mapping(values: pd.Series, config: Config) -> dict[str, str]:
    spellings = config.outcome_values
    won = {v.strip().lower() for v in spellings.won}
    lost = {v.strip().lower() for v in spellings.lost}
    opened = {v.strip().lower() for v in spellings.open} | set(PLACEHOLDERS)
    mapping = {}
    for value in values.astype("string").str.strip().str.lower().dropna().unique():
        mapping[str(value)] = (
            schema.WON
            if value in won
            else schema.LOST
            if value in lost
            else "open"
            if value in opened
            else "?"
        )
    return mapping


def _find_outcome(frame: pd.DataFrame, config: Config) -> tuple[str | None, dict[str, str]]:
    """The column whose few values read as won and lost: most rows mapped wins."""
    best: tuple[float, str | None, dict[str, str]] = (0.0, None, {})
    for column in frame.columns:
        text = frame[column].astype("string").str.strip().str.lower()
        if text.nunique(dropna=True) > 12:
            continue
        mapping = _outcome_mapping(frame[column], config)
        kinds = set(mapping.values())
        if not {schema.WON, schema.LOST} <= kinds:
            continue
        mapped = text.map(mapping).isin([schema.WON, schema.LOST]).mean()
        score = float(mapped) + (1.0 if _slug(column) == schema.OUTCOME else 0.0)
        if score > best[0]:
            best = (score, column, mapping)
    return best[1], best[2]


def _find_id(frame: pd.DataFrame, skip: set[str]) -> str | None:
    candidates = []
    for column in frame.columns:
        if column in skip:
            continue
        text = frame[column].astype("string").str.strip()
        if text.isna().any() or (text == "").any() or not text.is_unique:
            continue
        candidates.append((0 if _slug(column) == schema.LEAD_ID else 1, column))
    return min(candidates)[1] if candidates else None


def _auc_alone(values: pd.Series, won: np.ndarray, role: str) -> float | None:
    """How well one column alone separates won from lost (ROC AUC, either direction;
    categories by their out-of-fold win rate, so a many-valued column cannot fake it)."""
    score: np.ndarray
    if role == Role.NUMERIC:
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        score = numbers.fillna(numbers.median() if numbers.notna().any() else 0.0).to_numpy()
    elif role == Role.CATEGORICAL:
        text = values.astype("string").str.strip().str.lower().fillna("")
        folds = np.arange(len(text)) % 2
        score = np.zeros(len(text))
        for k in (0, 1):
            rates = pd.Series(won[folds != k]).groupby(text[folds != k].to_numpy()).mean()
            score[folds == k] = text[folds == k].map(rates).fillna(won.mean()).to_numpy()
    else:
        return None
    if len(np.unique(score)) < 2:
        return None
    auc = float(roc_auc_score(won, score))
    return max(auc, 1.0 - auc)


def inspect_export(leads: Source, activities: Source | None, config: Config) -> Inspection:
    frame = leads.read()
    frame.columns = [str(c).strip() for c in frame.columns]
    rows = len(frame)
    outcome_column, mapping = _find_outcome(frame, config)
    closed_mask = np.zeros(rows, dtype=bool)
    won = np.zeros(rows, dtype=bool)
    counts: dict[str, int] = {}
    if outcome_column is not None:
        raw = frame[outcome_column].astype("string").str.strip()
        counts = {str(k): int(v) for k, v in raw.value_counts(dropna=False).items()}
        mapped = raw.str.lower().map(mapping)
        won = (mapped == schema.WON).to_numpy()
        closed_mask = mapped.isin([schema.WON, schema.LOST]).to_numpy()
    id_column = _find_id(frame, {outcome_column} if outcome_column else set())

    profiles: list[ColumnProfile] = []
    leaks: list[Leak] = []
    placeholders: dict[str, int] = {}
    dates: list[str] = []
    for column in frame.columns:
        values = frame[column]
        text = values.astype("string").str.strip()
        lowered = text.str.lower()
        for spelling, n in lowered[lowered.isin(PLACEHOLDERS - {""})].value_counts().items():
            placeholders[str(spelling)] = placeholders.get(str(spelling), 0) + int(n)
        present = present_text(values)
        missing = 1.0 - len(present) / max(rows, 1)
        examples = [str(v) for v in present.drop_duplicates().head(4)]
        if column == outcome_column:
            role, note = "outcome", "values read as won / lost (see the outcome table)"
        elif column == id_column:
            role, note = "id", "unique and never empty"
        else:
            inferred = infer_role(values, config.features.max_categories)
            role, note = str(inferred.role), inferred.reason
            if inferred.role is Role.IGNORE and "personal data" in inferred.reason:
                role = "personal data"
            elif inferred.role is Role.IGNORE and "free text" in inferred.reason:
                role = "free text"
            if inferred.role is Role.DATE:
                dates.append(column)
        profiles.append(
            ColumnProfile(column, role, missing, int(present.nunique()), examples, note)
        )
        learnable = closed_mask.sum() >= 20 and 0 < won[closed_mask].mean() < 1
        if role in ("numeric", "categorical") and learnable:
            leak = _leak_evidence(values[closed_mask], won[closed_mask], role, present.index)
            if leak:
                leaks.append(Leak(column, leak))
        if role == "categorical":
            stage = set(present.str.lower().unique()) & (STAGE_WORDS | _outcome_words(mapping))
            if stage:
                leaks.append(
                    Leak(
                        column,
                        f"values look like deal stages or outcomes ({', '.join(sorted(stage)[:3])})"
                        ": sales records them as the deal moves, not before",
                    )
                )

    created, closed, span = _timestamps(frame, dates, closed_mask)
    notes = {
        created: ("created_at", "the earliest date of each lead, filled for all"),
        closed: ("closed_at", "filled when (and only when) the lead is closed"),
    }
    profiles = [
        replace(p, role=notes[p.column][0], note=notes[p.column][1]) if p.column in notes else p
        for p in profiles
    ]
    inspection = Inspection(
        source=leads.label,
        rows=rows,
        columns=profiles,
        id_column=id_column,
        outcome_column=outcome_column,
        outcome_counts=counts,
        outcome_mapping=mapping,
        created_column=created,
        closed_column=closed,
        time_span=span,
        leaks=leaks,
        placeholders=placeholders,
        won=int(won.sum()),
        lost=int(closed_mask.sum() - won.sum()),
        open=int(rows - closed_mask.sum()),
    )
    if activities is not None:
        acts = activities.read()
        inspection.activities = {"rows": len(acts), "columns": list(map(str, acts.columns))}
    inspection.readiness = readiness(inspection, config)
    return inspection


def _outcome_words(mapping: dict[str, str]) -> set[str]:
    """Outcome spellings that are words (a column holding "closed won" is a stage field;
    one holding 0 / 1 or yes / no is just a flag)."""
    return {
        v
        for v, k in mapping.items()
        if k in (schema.WON, schema.LOST) and len(v) > 3 and v.isalpha()
    }


def _leak_evidence(
    values: pd.Series, won: np.ndarray, role: str, present_index: pd.Index
) -> str | None:
    filled = values.index.isin(present_index)
    if 0.05 <= filled.mean() < 0.95:
        share = won[filled].mean()
        base = won.mean()
        if (share >= PURITY and base < PURITY) or (share <= 1 - PURITY and base > 1 - PURITY):
            side = "won" if share >= PURITY else "lost"
            return (
                f"filled only for {side} leads ({filled.mean():.0%} of closed leads have it): "
                "it is written when the outcome is known"
            )
    auc = _auc_alone(values, won, role)
    if auc is None:
        return None
    if auc >= DECIDES_AUC:
        return f"almost decides the outcome alone (ROC AUC {auc:.2f})"
    if auc >= STRONG_ALONE_AUC:
        return (
            f"alone it separates won from lost with ROC AUC {auc:.2f}, more than pre-sale "
            "signals usually do: check that it is known before the outcome (a call length, "
            "a stage or a score recorded afterwards would leak)"
        )
    return None


def _timestamps(
    frame: pd.DataFrame, dates: list[str], closed: np.ndarray
) -> tuple[str | None, str | None, tuple[str, str] | None]:
    """created_at: the date column filled for (nearly) every lead with the earliest values;
    closed_at: a date column filled for closed leads and empty for open ones."""
    parsed = {c: parse_utc(frame[c].astype("string")) for c in dates}
    created = closed_at = None
    if parsed:
        full = [c for c, v in parsed.items() if v.notna().mean() >= 0.95]
        if full:
            created = min(full, key=lambda c: parsed[c].median())
        if closed.any() and (~closed).any():
            for c, v in parsed.items():
                if c == created:
                    continue
                if v[closed].notna().mean() >= 0.95 and v[~closed].notna().mean() <= 0.05:
                    closed_at = c
                    break
    span = None
    if created is not None:
        v = parsed[created].dropna()
        span = (str(v.min())[:10], str(v.max())[:10])
    return created, closed_at, span


def readiness(found: Inspection, config: Config) -> list[str]:
    need = config.minimum_data.min_class_leads
    comfortable = config.minimum_data.comfortable_class_leads
    out = []
    if found.outcome_column is None:
        out.append(
            "No outcome column found: add one with won / lost (or map the export's spellings "
            "under `outcome_values:`), then inspect again."
        )
        return out
    unknown = [v for v, k in found.outcome_mapping.items() if k == "?"]
    if unknown:
        out.append(
            f"Outcome values not understood: {unknown[:5]}; add them under `outcome_values:` "
            "(won / lost / open) in the starter config."
        )
    fewer = min(found.won, found.lost)
    if fewer < need:
        out.append(
            f"Not ready: {found.won} won and {found.lost} lost leads; training needs at least "
            f"{need} of each ({comfortable} or more for trustworthy tiers). Add older history or "
            "wait for outcomes."
        )
    elif fewer < comfortable:
        out.append(
            f"Ready with caution: {found.won} won and {found.lost} lost leads; below "
            f"{comfortable} of each the tiers' win rates carry wide intervals."
        )
    else:
        out.append(f"Ready: {found.won} won and {found.lost} lost leads to learn from.")
    if found.created_column is None:
        out.append(
            "No creation timestamp: training splits leads at random (flattering when the "
            "conversion rate moves over time). If rows are in time order, set "
            "`export.row_order_is_time: true`."
        )
    if found.leaks:
        out.append(
            f"{len(found.leaks)} likely leaks are excluded in the starter config; check each "
            "one and keep it only if it is known before the outcome."
        )
    out.append(
        "Next: leadscore train --leads <export> [--activities <file>] --config <starter config>"
    )
    return out


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def starter_config(found: Inspection) -> str:
    """A YAML config with a comment on every choice."""
    lines = [
        f"# Starter config written by `leadscore inspect` for {found.source}.",
        "# Every choice is commented; edit what is wrong, then train with --config.",
        "",
    ]
    mapping: list[tuple[str, str, str]] = []
    if found.id_column and found.id_column != schema.LEAD_ID:
        mapping.append((found.id_column, schema.LEAD_ID, "unique and never empty"))
    if found.outcome_column and found.outcome_column != schema.OUTCOME:
        mapping.append((found.outcome_column, schema.OUTCOME, "its values read as won / lost"))
    if found.created_column and found.created_column != schema.CREATED_AT:
        mapping.append((found.created_column, schema.CREATED_AT, "earliest date, filled for all"))
    if found.closed_column and found.closed_column != schema.CLOSED_AT:
        mapping.append((found.closed_column, schema.CLOSED_AT, "filled only for closed leads"))
    taken = {m[0] for m in mapping} | {m[1] for m in mapping}
    for profile in found.columns:
        slug = _slug(profile.column)
        known = slug in schema.WELL_KNOWN and profile.column != slug
        if known and profile.column not in taken and slug not in taken:
            mapping.append((profile.column, slug, "the contract's name for this field"))
            taken |= {profile.column, slug}
    lines.append("columns:")
    if mapping:
        lines.append("  leads:")
        lines += [f"    {_q(raw)}: {name}    # {why}" for raw, name, why in mapping]
    else:
        lines.append("  leads: {}    # the export already uses the contract's names")
    lines.append("")
    unknown = [v for v, k in found.outcome_mapping.items() if k == "?"]
    read = ", ".join(f"{v} = {k}" for v, k in sorted(found.outcome_mapping.items()) if k != "?")
    lines.append(f"outcome_values:    # the defaults already read: {read or 'nothing'}")
    if unknown:
        lines.append(f"  # not understood, add each under won, lost or open: {unknown[:10]}")
    else:
        lines[-1] = lines[-1].replace("outcome_values:", "# outcome_values:")
    lines.append("")
    lines.append("export:")
    no_id = found.id_column is None
    why = "no unique id column: the row number is the lead id" if no_id else "ids from a column"
    lines.append(f"  row_number_as_lead_id: {str(no_id).lower()}    # {why}")
    hint = " (no timestamps were found)" if found.created_column is None else ""
    lines.append(f"  row_order_is_time: false    # set true if the rows are in time order{hint}")
    lines.append("")
    ignore = [(leak.column, f"likely leak: {leak.reason}") for leak in found.leaks]
    ignore += [
        (p.column, p.note)
        for p in found.columns
        if p.role in ("personal data", "free text") and p.column not in {c for c, _ in ignore}
    ]
    lines.append("features:")
    if ignore:
        lines.append("  column_roles:")
        for column, why in ignore:
            lines.append(f"    {_q(column)}: ignore    # {why}")
    else:
        lines.append("  column_roles: {}    # every column keeps the role inferred from its values")
    if found.placeholders:
        common = sorted(found.placeholders.items(), key=lambda kv: -kv[1])[:6]
        shown = ", ".join(f"{k!r} x{v}" for k, v in common)
        lines.append(f"# Read as missing everywhere (CRM placeholders): {shown}")
    return "\n".join(lines) + "\n"


def summary_rows(found: Inspection) -> list[tuple[str, str, str, str, str]]:
    return [
        (p.column, p.role, f"{p.missing_share:.0%}", str(p.distinct), p.note) for p in found.columns
    ]


def fmt_span(found: Inspection) -> str:
    if found.time_span is None:
        return "no timestamps"
    return f"{found.time_span[0]} to {found.time_span[1]}"
