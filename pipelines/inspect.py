"""`leadscore inspect`: the first look at a raw CRM export. Profiles every column, finds the
id, the outcome and the timestamps by their evidence (not by their names), flags likely leaks
and personal data, judges whether there is enough history to learn from, and writes a
starter config, every choice commented, that the analyst edits (or trains with as it is)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.attributes import Role, infer_role, present_text
from leadscore.features.leakage import LeakageSettings, auc_alone, judgement_evidence, settles
from leadscore.features.text import PLACEHOLDERS
from leadscore.features.timeutil import parse_utc
from leadscore.pipelines.activity_columns import guess_activity_columns
from leadscore.pipelines.config import Config
from leadscore.pipelines.errors import InputError
from leadscore.pipelines.io.sources import Source

STRONG_ALONE_AUC = 0.80  # a single pre-sale signal rarely separates won from lost this well
DECIDES_AUC = 0.95
_SLUG = re.compile(r"[^0-9a-z]+")
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# What exports call their outcome. A whole name among these is strong evidence, a word of the
# name among them weaker; names of channel flags ("Do Not Email", "opt out") count against.
OUTCOME_NAMES = frozenset(
    {
        "outcome", "converted", "conversion", "won", "target", "y", "label", "result",
        "response", "purchase", "purchased", "revenue", "is_lead", "status", "stage",
        "lead_status", "deal_status", "subscribed", "success", "class", "is_converted",
        "has_converted", "sale", "sold", "closed_won", "is_won", "signed_up",
    }
)  # fmt: skip
OUTCOME_WORDS = frozenset(
    {
        "outcome", "converted", "conversion", "convert", "won", "win", "target", "result",
        "response", "purchase", "purchased", "revenue", "status", "stage", "label",
        "subscribed", "sale", "sold", "success", "deal", "signed",
    }
)  # fmt: skip
FLAG_SPELLINGS = frozenset({"true", "false", "yes", "no", "y", "n", "ja", "nein", "oui", "non"})
NOT_OUTCOME_WORDS = frozenset({"not", "opt", "optout", "unsubscribed", "bounced", "dnc"})
OUTCOME_MARGIN = 1.0  # candidates closer than this are a question for the user
STANDS_OUT = 0.05  # a strong column is asked about when it beats every other column by this
# What CRMs call the contract's well-known attributes (slugs of their column names).
WELL_KNOWN_NAMES = {
    schema.LEAD_SOURCE: (
        "lead_source", "source", "original_source", "source_channel", "leadsource", "quelle",
        "herkunft", "lead_quelle",
    ),
    schema.COUNTRY: ("country", "country_region", "land", "country_code", "billing_country"),
    schema.INDUSTRY: ("industry", "branche", "sector", "vertical"),
    schema.COMPANY_SIZE: (
        "company_size", "employees", "number_of_employees", "no_of_employees",
        "num_employees", "employee_count", "headcount", "mitarbeiterzahl", "mitarbeiter",
        "anzahl_mitarbeiter", "firmengrosse", "unternehmensgrosse",
    ),
    schema.JOB_TITLE: ("job_title", "title", "position", "jobtitle", "job_position"),
    schema.EMAIL: ("email", "e_mail", "email_address", "e_mail_adresse", "mail"),
}  # fmt: skip
ID_WORDS = frozenset({"id", "guid", "uuid", "key", "nummer", "number", "nr", "no"})
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
class SuspectColumn:
    """A raw column that may be recorded at or after the outcome, and why (the training
    gate's counterpart for engineered features is ``features.leakage.Leak``)."""

    column: str
    reason: str


@dataclass(frozen=True)
class OutcomeCandidate:
    """A column that could be the outcome, with the evidence weighed for it."""

    column: str
    score: float
    evidence: list[str]
    mapping: dict[str, str]


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
    leaks: list[SuspectColumn]
    placeholders: dict[str, int]  # placeholder spelling -> cells treated as missing
    # Candidates for the outcome, best first; two within OUTCOME_MARGIN: a question.
    outcome_candidates: list[OutcomeCandidate] = field(default_factory=list)
    outcome_question: list[str] = field(default_factory=list)
    # Columns that separate won from lost so well that the user must say when they are known.
    questions: list[SuspectColumn] = field(default_factory=list)
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


def _name_words(name: str) -> list[str]:
    return [w.lower() for w in _NAME_WORDS.findall(name.strip())]


def outcome_candidates(
    frame: pd.DataFrame, config: Config, closing_dates: dict[str, pd.Series]
) -> list[OutcomeCandidate]:
    """Every column whose few values read as won and lost, scored on all the evidence, best
    first: its name (a whole outcome name +2, an outcome word in it +1, a channel-flag word
    -1), its values (deal words such as won / closed won / converted +1, flag spellings such
    as 0 / 1, true / false, yes / no +0.5, scaled by the share of cells they explain), a
    plausible won rate (outside 0.1%-90%: -1), and open leads (+1 when a date column is filled
    exactly where it reads won or lost: a close date). ``closing_dates``: date columns."""
    out = []
    for column in frame.columns:
        text = frame[column].astype("string").str.strip().str.lower()
        if text.nunique(dropna=True) > 12:
            continue
        mapping = _outcome_mapping(frame[column], config)
        kinds = set(mapping.values())
        if not {schema.WON, schema.LOST} <= kinds:
            continue
        evidence = []
        slug = _slug(str(column))
        words = _name_words(str(column))
        name = 0.0
        if slug in OUTCOME_NAMES:
            name = 2.0
            evidence.append(f"its name '{column}' is what exports call an outcome")
        elif any(w in OUTCOME_WORDS for w in words):
            name = 1.0
            evidence.append(f"its name '{column}' has an outcome word")
        if any(w in NOT_OUTCOME_WORDS for w in words):
            name -= 1.0
            evidence.append(f"its name '{column}' reads like a channel flag")
        mapped = text.map(mapping)
        present = text.notna() & (text != "")
        closed = mapped.isin([schema.WON, schema.LOST])
        explained = float((closed | mapped.eq("open")).sum() / max(int(present.sum()), 1))
        if explained < 0.5:
            continue  # a count or a code that happens to hold 0 and 1
        deal_words = _outcome_words(mapping)
        values = (1.0 if deal_words else 0.5) * explained
        evidence.append(
            f"values read as won / lost ({'deal words' if deal_words else 'a yes / no flag'}; "
            f"{explained:.0%} of filled cells understood)"
        )
        rate = float((mapped == schema.WON).sum() / max(int(closed.sum()), 1))
        plausible = 0.001 <= rate <= 0.9
        evidence.append(f"{rate:.1%} won" + ("" if plausible else ": an implausible rate"))
        opened = 0.0
        is_closed = closed.to_numpy(dtype=bool)
        if is_closed.any() and (~is_closed).any():
            for date, parsed in closing_dates.items():
                filled = parsed.notna().to_numpy()
                if filled[is_closed].mean() >= 0.95 and filled[~is_closed].mean() <= 0.05:
                    opened = 1.0
                    evidence.append(f"empty exactly where '{date}' (a close date) is empty")
                    break
        score = name + values + (0.0 if plausible else -1.0) + opened
        out.append(OutcomeCandidate(str(column), score, evidence, mapping))
    return sorted(out, key=lambda c: -c.score)


def _find_id(frame: pd.DataFrame, skip: set[str]) -> str | None:
    """The lead id: a column unique and never empty, of text or whole numbers (never a
    timestamp or a measurement); named like an id if several qualify, the leftmost first."""
    candidates = []
    for position, column in enumerate(frame.columns):
        if column in skip:
            continue
        values = frame[column]
        if pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 != 0).any():
            continue
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            continue
        text = values.astype("string").str.strip()
        if text.isna().any() or (text == "").any() or not text.is_unique:
            continue
        if parse_utc(text.head(200)).notna().mean() >= 0.9:
            continue  # a timestamp is unique too, but identifies nothing
        words = _name_words(str(column))
        rank = 0 if _slug(str(column)) == schema.LEAD_ID else 1 if ID_WORDS & set(words) else 2
        candidates.append((rank, position, column))
    return min(candidates)[2] if candidates else None


def _auc_alone(values: pd.Series, won: np.ndarray, role: str) -> float | None:
    """How well one column alone separates won from lost (``features.leakage.auc_alone``,
    the gate's measure; categories compared in lower case); None for other roles."""
    if role == Role.NUMERIC:
        return auc_alone(values, won, numeric=True)
    if role == Role.CATEGORICAL:
        text = values.astype("string").str.strip().str.lower()
        return auc_alone(text, won, numeric=False)
    return None


def inspect_export(
    leads: Source, activities: Source | None, config: Config, outcome: str | None = None
) -> Inspection:
    """Profile a raw export. ``outcome``: the user's answer to "which column is the outcome"
    (``--outcome``), which then needs no evidence."""
    frame = leads.read()
    frame.columns = [str(c).strip() for c in frame.columns]
    rows = len(frame)
    inferred = {c: infer_role(frame[c], config.features.max_categories) for c in frame.columns}
    dates = {
        c: parse_utc(frame[c].astype("string")) for c, r in inferred.items() if r.role is Role.DATE
    }
    if outcome is not None and outcome not in frame.columns:
        raise InputError(
            leads.label,
            "--outcome names a column the export does not have",
            column=outcome,
            expected=f"one of {list(frame.columns)[:20]}",
        )
    candidates = outcome_candidates(frame, config, dates)
    question: list[str] = []
    if outcome is not None:
        chosen = next((c for c in candidates if c.column == outcome), None)
        mapping = chosen.mapping if chosen else _outcome_mapping(frame[outcome], config)
        outcome_column: str | None = outcome
    elif len(candidates) >= 2 and candidates[0].score - candidates[1].score < OUTCOME_MARGIN:
        top = candidates[0].score
        question = [c.column for c in candidates if top - c.score < OUTCOME_MARGIN]
        outcome_column, mapping = None, {}
    elif candidates:
        outcome_column, mapping = candidates[0].column, candidates[0].mapping
    else:
        outcome_column, mapping = None, {}
    closed_mask = np.zeros(rows, dtype=bool)
    won = np.zeros(rows, dtype=bool)
    counts: dict[str, int] = {}
    if outcome_column is not None:
        raw = frame[outcome_column].astype("string").str.strip()
        counts = {str(k): int(v) for k, v in raw.value_counts(dropna=False).items()}
        mapped = raw.str.lower().map(mapping)
        won = (mapped == schema.WON).to_numpy()
        closed_mask = mapped.isin([schema.WON, schema.LOST]).to_numpy()
    id_column = _find_id(frame, {outcome_column, *question} - {None})  # type: ignore[arg-type]
    created, closed, span = _timestamps(dates, closed_mask)
    learnable = closed_mask.sum() >= 20 and 0 < won[closed_mask].mean() < 1
    ids = np.arange(rows).astype(str)

    profiles: list[ColumnProfile] = []
    leaks: list[SuspectColumn] = []
    alone: dict[str, float] = {}  # ROC AUC of each usable column on its own
    placeholders: dict[str, int] = {}
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
        elif column in question:
            role, note = "outcome?", "could be the outcome: a question for you (see below)"
        elif column == id_column:
            role, note = "id", "unique and never empty"
        elif column == created:
            role, note = "created_at", "the earliest date of each lead, filled for all"
        elif column == closed:
            role, note = "closed_at", "filled when (and only when) the lead is closed"
        else:
            found = inferred[column]
            role, note = str(found.role), found.reason
            if found.role is Role.IGNORE and "personal data" in found.reason:
                role = "personal data"
            elif found.role is Role.IGNORE and "free text" in found.reason:
                role = "free text"
        profiles.append(
            ColumnProfile(column, role, missing, int(present.nunique()), examples, note)
        )
        if role in ("outcome", "outcome?", "id", "created_at", "closed_at") or not learnable:
            continue
        filled = values.index.isin(present.index)
        evidence = _filled_for_one_outcome(filled, won, closed_mask, role, config.leakage)
        if evidence is None and role == "categorical":
            stage = set(present.str.lower().unique()) & (STAGE_WORDS | _outcome_words(mapping))
            if stage:
                evidence = (
                    f"values look like deal stages or outcomes ({', '.join(sorted(stage)[:3])})"
                    ": sales records them as the deal moves, not before"
                )
        if evidence is None and role in ("numeric", "categorical"):
            evidence = judgement_evidence(
                column,
                values[closed_mask].where(filled[closed_mask]).reset_index(drop=True),
                won[closed_mask].astype(int),
                ids[closed_mask],
                config.leakage,
                numeric=role == "numeric",
            )
        if evidence is not None:
            leaks.append(SuspectColumn(column, evidence))
            continue
        if role == "date" and closed is not None:
            evidence = _after_the_close(dates[column], dates[closed], closed_mask)
            if evidence is not None:
                leaks.append(SuspectColumn(column, evidence))
                continue
        if role in ("numeric", "categorical"):
            auc = _auc_alone(values[closed_mask], won[closed_mask], role)
            if auc is not None and auc >= DECIDES_AUC:
                leaks.append(
                    SuspectColumn(column, f"almost decides the outcome alone (ROC AUC {auc:.2f})")
                )
            elif auc is not None:
                alone[column] = auc
    questions = _standing_out(alone)

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
        outcome_candidates=candidates,
        outcome_question=question,
        questions=questions,
    )
    if activities is not None:
        acts = activities.read()
        acts.columns = [str(c).strip() for c in acts.columns]
        lead_keys = (
            frame[id_column].astype("string").str.strip()
            if id_column is not None
            else pd.Series(np.arange(1, rows + 1).astype(str))
        )
        found_columns, notes = guess_activity_columns(acts, lead_keys)
        inspection.activities = {
            "rows": len(acts),
            "columns": list(acts.columns),
            "mapping": found_columns,
            "notes": notes,
        }
    inspection.readiness = readiness(inspection, config)
    return inspection


def _standing_out(alone: dict[str, float]) -> list[SuspectColumn]:
    """The question "is it known before the outcome?" for a column that alone separates won
    from lost unusually well (ROC AUC >= STRONG_ALONE_AUC) *and* better than every other
    column by STANDS_OUT: one odd column (a call's length, a value computed at the sale) is
    suspect; several engagement counts that are all strong are simply the signal."""
    ranked = sorted(alone.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < STRONG_ALONE_AUC:
        return []
    column, auc = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else (None, 0.5)
    if auc - runner_up[1] < STANDS_OUT:
        return []
    next_best = f"; the next best column, '{runner_up[0]}', reaches {runner_up[1]:.2f}"
    return [
        SuspectColumn(
            column,
            f"alone it separates won from lost with ROC AUC {auc:.2f}, more than pre-sale "
            f"signals usually do{next_best if runner_up[0] else ''}: is it known before the "
            "outcome? (a call length, a stage or a score recorded afterwards would leak)",
        )
    ]


def _after_the_close(values: pd.Series, closed_at: pd.Series, closed: np.ndarray) -> str | None:
    """A date that lies on or after the close for (nearly) every closed lead: it moves with
    the outcome (a last update, a status change)."""
    both = closed & values.notna().to_numpy() & closed_at.notna().to_numpy()
    if both.sum() < 20:
        return None
    after = (values[both] >= closed_at[both] - pd.Timedelta(days=1)).mean()
    if after < 0.9:
        return None
    return (
        f"a date on or after the close for {after:.0%} of closed leads: it is written as the "
        "deal moves (an update or status date), not before the outcome"
    )


def _filled_for_one_outcome(
    filled: np.ndarray,
    won: np.ndarray,
    closed: np.ndarray,
    role: str,
    settings: LeakageSettings,
) -> str | None:
    """A column of any type filled only (or almost only) for one outcome, or only once the
    lead is closed: written when the outcome is known. Judged against the base rate (see
    ``leakage.settles``): being empty for most lost leads where most leads are lost is no
    evidence; being filled for 300 leads of which none lost, where 80% lose, is."""
    n_closed = int(closed.sum())
    is_filled = filled[closed]
    outcome = won[closed]
    base = float(outcome.mean())
    date = role in ("date",)
    for present, what in ((True, "filled"), (False, "empty")):
        group = is_filled == present
        size = float(group.sum())
        if size < 0.05 * n_closed or size > 0.95 * n_closed:
            continue
        wins = float(outcome[group].sum())
        for side, other, rate in (("won", size - wins, 1 - base), ("lost", wins, base)):
            if settles(np.array([size]), np.array([other]), rate, settings)[0]:
                share = 1 - other / size
                if date and present:
                    return (
                        f"a date filled only for {side} leads ({share:.1%} of the "
                        f"{size:.0f} leads that have it {side}): the date that outcome was "
                        f"recorded. It leaks the outcome; it can be `closed_at` only "
                        f"together with the close date of the other outcome"
                    )
                return (
                    f"{what} only for {side} leads ({share:.1%} of the {size:.0f} closed leads "
                    f"where it is {what} {side}, overall {base:.0%} won): it is written when "
                    "the outcome is known"
                )
    opened = ~closed
    if (
        opened.sum() >= 0.05 * len(closed)
        and filled[closed].mean() >= 0.95 > 0.05 >= filled[opened].mean()
    ):
        return "filled for closed leads and empty for open ones: it is written at the close"
    return None


def _outcome_words(mapping: dict[str, str]) -> set[str]:
    """Outcome spellings that are words (a column holding "closed won" is a stage field;
    one holding 0 / 1, true / false or yes / no is just a flag)."""
    return {
        v
        for v, k in mapping.items()
        if k in (schema.WON, schema.LOST)
        and v not in FLAG_SPELLINGS
        and len(v) > 2
        and v.replace(" ", "").replace("-", "").replace("_", "").isalpha()
    }


def _timestamps(
    parsed: dict[str, pd.Series], closed: np.ndarray
) -> tuple[str | None, str | None, tuple[str, str] | None]:
    """created_at: the date column filled for (nearly) every lead with the earliest values;
    closed_at: a date column filled for closed leads and empty for open ones."""
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
        elif closed.any() and created is not None:
            # Every lead is closed: a close date is the other date filled for (nearly) all of
            # them, never before creation; the earliest such (later ones are updates).
            start = parsed[created]
            later = [
                c
                for c, v in parsed.items()
                if c != created
                and v[closed].notna().mean() >= 0.95
                and (v >= start)[v.notna() & start.notna()].mean() >= 0.99
            ]
            if later:
                closed_at = min(later, key=lambda c: parsed[c].median())
    span = None
    if created is not None:
        v = parsed[created].dropna()
        span = (str(v.min())[:10], str(v.max())[:10])
    return created, closed_at, span


def readiness(found: Inspection, config: Config) -> list[str]:
    need = config.minimum_data.min_class_leads
    comfortable = config.minimum_data.comfortable_class_leads
    out = []
    if found.outcome_question:
        shown = {c.column: c for c in found.outcome_candidates}
        described = "; ".join(
            f"'{c}' ({', '.join(shown[c].evidence)})" for c in found.outcome_question
        )
        out.append(
            f"Not ready: {len(found.outcome_question)} columns could be the outcome, and the "
            f"evidence does not settle it: {described}. Say which: inspect again with "
            "--outcome COLUMN (then the leak checks run against it), or map it in the starter "
            "config; train stops until then."
        )
        return out
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
    if found.questions:
        names = ", ".join(repr(q.column) for q in found.questions)
        out.append(
            f"Question before training: is {names} known before the outcome? Each separates "
            "won from lost unusually well on its own. Set its role in the starter config "
            "(ignore if it is recorded at or after the decision); train stops until then."
        )
    out.append(
        "Next: leadscore train --leads <export> [--activities <file>] --config <starter config>"
    )
    return out


def well_known_name(profile: ColumnProfile) -> str | None:
    """The contract's well-known attribute a column is, by its name (``WELL_KNOWN_NAMES``)
    and, for e-mail, its values; None for a column with another role."""
    if profile.role in ("id", "outcome", "outcome?", "created_at", "closed_at"):
        return None
    slug = _slug(profile.column)
    for name, slugs in WELL_KNOWN_NAMES.items():
        if slug in slugs:
            if name == schema.EMAIL and not any("@" in e for e in profile.examples):
                return None
            return name
    return None


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
    evidence = {c.column: ", ".join(c.evidence) for c in found.outcome_candidates}
    if found.outcome_column and found.outcome_column != schema.OUTCOME:
        why = evidence.get(found.outcome_column, "chosen with --outcome")
        runner_up = [c for c in found.outcome_candidates if c.column != found.outcome_column]
        if runner_up:
            why += f" (next best: '{runner_up[0].column}', score {runner_up[0].score:.1f})"
        mapping.append((found.outcome_column, schema.OUTCOME, why))
    if found.created_column and found.created_column != schema.CREATED_AT:
        mapping.append((found.created_column, schema.CREATED_AT, "earliest date, filled for all"))
    if found.closed_column and found.closed_column != schema.CLOSED_AT:
        mapping.append(
            (found.closed_column, schema.CLOSED_AT, "the close date: filled for closed leads")
        )
    taken = {m[0] for m in mapping} | {m[1] for m in mapping}
    for profile in found.columns:
        name = well_known_name(profile)
        if name and profile.column != name and profile.column not in taken and name not in taken:
            mapping.append((profile.column, name, f"what CRMs call {name}"))
            taken |= {profile.column, name}
    activity_map: dict[str, str] = found.activities.get("mapping", {})
    activity_notes: list[str] = found.activities.get("notes", [])
    lines.append("columns:")
    if mapping:
        lines.append("  leads:")
        lines += [f"    {_q(raw)}: {name}    # {why}" for raw, name, why in mapping]
    else:
        lines.append("  leads: {}    # the export already uses the contract's names")
    if found.outcome_question:
        lines.append(
            "    # QUESTION: which column is the outcome? Uncomment one (or train --outcome):"
        )
        lines += [f"    # {_q(c)}: outcome    # {evidence[c]}" for c in found.outcome_question]
    renamed = {raw: name for raw, name in activity_map.items() if raw != name}
    if renamed:
        lines.append("  activities:")
        for raw, name in renamed.items():
            why = next((n for n in activity_notes if f"-> {name}:" in n), "found from its values")
            lines.append(f"    {_q(raw)}: {name}    # {why}")
    lines.append("")
    if found.outcome_question or found.questions:
        lines.append("questions:    # train stops (exit 2) until each of these is settled")
        if found.outcome_question:
            shown = ", ".join(_q(c) for c in found.outcome_question)
            lines.append(f"  outcome: [{shown}]    # settled once one is mapped onto outcome")
        if found.questions:
            shown = ", ".join(_q(q.column) for q in found.questions)
            lines.append(
                f"  known_before_outcome: [{shown}]    # settled by a role under "
                "features.column_roles"
            )
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
        if p.role in ("personal data", "free text")
        and p.column not in {c for c, _ in ignore}
        and p.column not in taken  # mapped onto a well-known field with its own logic
    ]
    lines.append("features:")
    if ignore or found.questions:
        lines.append("  column_roles:")
        for column, why in ignore:
            lines.append(f"    {_q(column)}: ignore    # {why}")
    else:
        lines.append("  column_roles: {}    # every column keeps the role inferred from its values")
    for question in found.questions:
        lines.append(f"    # QUESTION: {_q(question.column)}: ignore    # {question.reason}")
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
