"""Real exports, zero edits: what a new user runs, on the public exports, against the yardsticks.

For each export of the public corpus (`data/exports/README.md`, `data/bank-marketing/`), in a
temporary folder with its own MLflow store, through the CLI as subprocesses and without edits:

    leadscore inspect --leads TRAIN.csv --write-config starter.yaml
    leadscore train   --leads TRAIN.csv --config starter.yaml
    leadscore score   --leads HELDOUT.csv --config starter.yaml --as-of DATE --output scores.csv

then the ROC AUC of `probability` against the held-out outcomes, beside the yardstick of the
exports' README (the same split, every column but the outcome as an input). HELDOUT.csv holds
the held-out rows with the outcome cell emptied (open leads), same columns and order.

When `train` stops with exit code 2 and asks a question (the starter config's `questions:`),
the question is the "zero-edit result"; the bench then answers it as the yardstick's analyst
would (`answer`: the outcome is the export's outcome column, every other column is an input),
by editing the starter config the way the message says, retrains and reports the AUC "after
answering".

The zoo (skip it with `--no-zoo`): every dialect of `leadscore generate --dialect` goes
through the same path (train on the export, score the leads open at its date) and is compared
with the generator's truth and with `canonical` (a flat export with the same flat table under
the contract's names).

Prints a Markdown table and writes it into docs/results.md between the `exports-table`
markers.

    .venv/bin/python bench/exports.py [--only NAME] [--no-write] [--no-zoo] [--keep DIR]
    .venv/bin/python bench/exports.py --seeds 5     # the final AUCs over LightGBM seeds
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from provenance import published, stamp
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
LEADSCORE = str(Path(sys.executable).with_name("leadscore"))
DATA = Path(os.environ.get("LEADSCORE_PUBLIC_DATA", "/work/shared/data"))
AS_OF = "2026-06-30"  # the exports have no timestamps: any date scores every open row
MAX_QUESTIONS = 5  # questions answered per export before the bench gives up
LIGHTGBM_SEED: int | None = None  # --seeds: written into each starter config
STEP_TIMEOUT = 3600  # seconds per CLI call
MARK_START, MARK_END = "<!-- exports-table:start -->", "<!-- exports-table:end -->"
TIERS = ("SQL", "MQL", "unqualified")
_BOX = "│╭╮╰╯─ "  # rich draws typer's usage errors in a box
_ERROR = re.compile(r"^error\b:?", re.IGNORECASE)
_LOG_LINE = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}")


@dataclass(frozen=True)
class Export:
    """One public export, its split and its yardstick. `outcome` and `won` are what the
    yardstick's analyst knows about the export (its README says so): they build the split,
    and they are the analyst's answer when `train` asks which column is the outcome. Every
    other column is an input for that analyst (a column's role is answered "keep")."""

    name: str
    path: str  # under the data folder
    sep: str
    outcome: str
    won: str  # the outcome's value for a conversion
    split: str  # "random20": default_rng(0).random(n) < 0.2; "forward80": last 20% by row order
    drop: tuple[str, ...]  # removed from both files, as the yardstick does
    yardstick: float  # LightGBM defaults, ROC AUC (exports' README)
    sha256: str


# The public exports and what the yardsticks' analyst knows about each: which column is the
# outcome (and its value for a conversion), how the README's yardstick splits it, which
# columns it drops. The answering step reads its answers from here: the outcome column when
# asked for the outcome; "keep, with the role its values show" for any other column.
EXPORTS = (
    Export(
        "online-shoppers",
        "exports/online-shoppers/online_shoppers_intention.csv",
        ",",
        "Revenue",
        "TRUE",
        "random20",
        (),
        0.933,
        "b3055ee355f59134d851d32641183cb4a8b45def7124d2f50442a042f358e0d9",
    ),
    Export(
        "in-vehicle-coupon",
        "exports/in-vehicle-coupon/in-vehicle-coupon-recommendation.csv",
        ",",
        "Y",
        "1",
        "random20",
        (),
        0.834,
        "87e841f5d41cdaf31a09d0a0770187b2fc9cabe4171c30bf7ea2182dd074abaa",
    ),
    Export(
        "bank-marketing",
        "bank-marketing/bank-additional-full.csv",
        ";",
        "y",
        "yes",
        "forward80",
        ("duration",),
        0.658,
        "74adfc578bf77a7ff4bb1ba4a9f8709d9e3c6907342959c2c8416847e0afb4d8",
    ),
)


# --- running the CLI -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    command: str
    code: int
    stdout: str
    stderr: str
    seconds: float

    def message(self) -> str:
        """What the command told the user: its `error:` text (or the text of a usage-error
        box), else the last line that is not a log record."""
        text = self.stderr + "\n" + self.stdout
        lines = [line.strip(_BOX).strip() for line in text.splitlines()]
        for i, line in enumerate(lines):
            if _ERROR.match(line):
                rest = [_ERROR.sub("", line, count=1).strip()]
                for more in lines[i + 1 :]:
                    if not more or _LOG_LINE.match(more):
                        break
                    rest.append(more)
                return "\n".join(r for r in rest if r) or "(no message)"
        plain = [line for line in lines if line and not _LOG_LINE.match(line)]
        return plain[-1] if plain else "(no message)"

    def first_line(self) -> str:
        return self.message().splitlines()[0]

    def failure(self) -> str:
        return f"`{self.command}` exit {self.code}: {self.first_line()}"


def leadscore(args: list[str], cwd: Path) -> Step:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}",
        "COLUMNS": "250",  # rich wraps captured output at 80 columns otherwise
    }
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    start = time.perf_counter()
    done = subprocess.run(
        [LEADSCORE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT
    )
    return Step(args[0], done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


# --- the starter config ----------------------------------------------------------------------


def chosen_outcome(config: dict[str, Any], columns: list[str]) -> str | None:
    """The column the config maps onto `outcome` (or one already named so)."""
    mapping = (config.get("columns") or {}).get("leads") or {}
    chosen = [raw for raw, name in mapping.items() if name == "outcome"]
    if not chosen and "outcome" in columns:
        chosen = ["outcome"]
    return chosen[0] if chosen else None


_IGNORED = re.compile(r"^\s+(?=[^\s#])[\"']?(?P<column>.+?)[\"']?:\s*ignore\s*(#\s*(?P<why>.*))?$")


def excluded_columns(starter_text: str) -> list[tuple[str, str]]:
    """(column, the starter config's comment) for every column it sets to `ignore`."""
    out = []
    for line in starter_text.splitlines():
        found = _IGNORED.match(line)
        if found:
            out.append((found["column"], (found["why"] or "no comment").strip()))
    return out


def _keep_role(values: pd.Series) -> str:
    """The role the analyst keeps a column with: numeric if every filled cell is a number."""
    filled = values[values.str.strip() != ""]
    numbers = pd.to_numeric(filled, errors="coerce")
    return "numeric" if len(filled) and numbers.notna().all() else "categorical"


@dataclass(frozen=True)
class Answer:
    config: dict[str, Any]
    train_args: tuple[str, ...]
    score_args: tuple[str, ...]
    text: str


def _quoted_columns(text: str, columns: list[str]) -> list[str]:
    """The export's columns that `text` names in quotes, in the order it names them."""
    at = {}
    for column in columns:
        spots = [text.find(f"{q}{column}{p}") for q, p in ("''", '""', "``", "‘’", "“”")]
        spots = [i for i in spots if i >= 0]
        if spots:
            at[column] = min(spots)
    return sorted(at, key=at.__getitem__)


def answer(
    message: str,
    config: dict[str, Any],
    frame: pd.DataFrame,
    outcome: str,
    helps: dict[str, str],
    leave_out: tuple[str, ...] = (),
) -> Answer | None:
    """Answer a question of `train` as the yardstick's analyst would, the way its message
    says: the outcome is the export's outcome column; every other column is an input, kept
    with the role its values show (but `leave_out`, which the analyst knows to be written
    after the outcome). The columns asked about are the ones the message names in
    quotes, else the unsettled ones the starter config's `questions:` lists. None when the
    message names no way to answer (a config key or a `train` option)."""
    asked = _quoted_columns(message, list(frame.columns))
    new = copy.deepcopy(config)
    if "column_roles" in message:
        roles = dict((new.get("features") or {}).get("column_roles") or {})
        listed = [
            c
            for key, value in (new.get("questions") or {}).items()
            if key != "outcome"
            for c in _flatten([value])
            if c in frame.columns and c not in roles
        ]
        columns = asked or listed
        if not columns:
            return None
        chosen = {
            c: "ignore" if c == outcome or c in leave_out else _keep_role(frame[c]) for c in columns
        }
        roles.update(chosen)
        new["features"] = {**(new.get("features") or {}), "column_roles": roles}
        shown = ", ".join(f"{c}: {r}" for c, r in chosen.items())
        return Answer(new, (), (), f"`features.column_roles: {{{shown}}}`")
    if re.search(r"\boutcome\b", message) and "columns.leads" in message:
        mapped = (new.get("columns") or {}).get("leads") or {}
        leads = {r: n for r, n in mapped.items() if n != "outcome"} | {outcome: "outcome"}
        new["columns"] = {**(new.get("columns") or {}), "leads": leads}
        kept = (new.get("features") or {}).get("column_roles") or {}
        if outcome in kept:  # the outcome loses any role it had
            kept = {c: r for c, r in kept.items() if c != outcome}
            new["features"] = {**new["features"], "column_roles": kept}
        return Answer(new, (), (), f"`columns.leads: {{{outcome}: outcome}}`")
    if "--outcome" in message and "--outcome" in helps["train"]:
        score_args = ("--outcome", outcome) if "--outcome" in helps["score"] else ()
        return Answer(new, ("--outcome", outcome), score_args, f"`train --outcome {outcome}`")
    return None


def _flatten(values: Any) -> list[str]:
    out: list[str] = []
    for value in values:
        out += _flatten(value) if isinstance(value, list | tuple) else [str(value)]
    return out


# --- one walk of the zero-edit path ----------------------------------------------------------


@dataclass
class Walk:
    inspected: bool = False  # inspect wrote a starter config
    outcome_chosen: str | None = None
    excluded: list[tuple[str, str]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    failure: str | None = None  # what stopped the walk
    config: dict[str, Any] = field(default_factory=dict)  # the config scores were made with
    scores: pd.DataFrame | None = None
    rejects: pd.DataFrame | None = None
    not_open: int | None = None
    drift: bool = False
    train_notes: list[str] = field(default_factory=list)  # `note:` lines of the last train
    seconds: float = 0.0


def walk(
    work: Path,
    leads: Path,
    to_score: Path,
    activities: Path | None,
    as_of: str,
    frame: pd.DataFrame,
    outcome: str,
    helps: dict[str, str],
    leave_out: tuple[str, ...] = (),
) -> Walk:
    """inspect -> train (answering its questions) -> score, in `work`."""
    result = Walk()
    start = time.perf_counter()
    acts = ["--activities", str(activities)] if activities is not None else []
    try:
        _walk(work, leads, to_score, acts, as_of, frame, (outcome, leave_out), helps, result)
    finally:
        result.seconds = time.perf_counter() - start
    return result


def _walk(
    work: Path,
    leads: Path,
    to_score: Path,
    acts: list[str],
    as_of: str,
    frame: pd.DataFrame,
    analyst: tuple[str, tuple[str, ...]],  # the outcome column, columns known to leak
    helps: dict[str, str],
    result: Walk,
) -> None:
    starter = work / "starter.yaml"
    inspect = ["inspect", "--leads", str(leads), *acts, "--write-config", str(starter)]
    step = leadscore(inspect, work)
    if step.code != 0 or not starter.exists():
        result.failure = step.failure()
        return
    text = starter.read_text(encoding="utf-8")
    config = yaml.safe_load(text) or {}
    if LIGHTGBM_SEED is not None:  # --seeds: the only edit, the booster's seed
        config["lightgbm"] = {**(config.get("lightgbm") or {}), "seed": LIGHTGBM_SEED}
        starter.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    result.inspected = True
    result.outcome_chosen = chosen_outcome(config, list(frame.columns))
    result.excluded = excluded_columns(text)
    train_args: tuple[str, ...] = ()
    score_args: tuple[str, ...] = ()
    for _ in range(MAX_QUESTIONS + 1):
        step = leadscore(
            ["train", "--leads", str(leads), *acts, "--config", str(starter), *train_args], work
        )
        if step.code == 0:
            result.train_notes = [
                line.removeprefix("note:").strip()
                for line in step.stdout.splitlines()
                if line.startswith("note:")
            ]
            break
        first = step.first_line()
        asking = step.code == 2 and ("?" in first or "question" in first.lower())
        if not asking:
            result.failure = step.failure()
            return
        question = first
        if question in result.questions:
            result.failure = f"answer not taken ({result.answers[-1]}), asked again: {question}"
            return
        result.questions.append(question)
        reply = answer(step.message(), config, frame, analyst[0], helps, analyst[1])
        if reply is None:
            result.failure = f"no way to answer found in the message: {question}"
            return
        result.answers.append(reply.text)
        config = reply.config
        starter.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        train_args, score_args = train_args + reply.train_args, score_args + reply.score_args
    else:
        result.failure = f"still asking after {MAX_QUESTIONS} answers"
        return
    result.config = config
    output = work / "scores.csv"
    step = leadscore(
        ["score", "--leads", str(to_score), *acts, "--config", str(starter), "--as-of", as_of,
         "--output", str(output), *score_args],
        work,
    )  # fmt: skip
    if step.code not in (0, 3):
        result.failure = step.failure()
        return
    result.drift = step.code == 3
    result.scores = pd.read_csv(output, dtype={"lead_id": str})
    rejects = output.with_name("scores.rejects.csv")
    result.rejects = pd.read_csv(rejects, dtype=str) if rejects.exists() else None
    counted = re.search(r"(\d+) not open", step.stderr) or re.search(
        r"(\d+) leads\s+already closed", step.stdout
    )
    result.not_open = int(counted[1]) if counted else None


# --- the public exports ----------------------------------------------------------------------


@dataclass
class Row:
    name: str
    rows: str = ""
    outcome_chosen: str = ""
    excluded: list[tuple[str, str]] = field(default_factory=list)
    zero_edit: str = ""
    after: str = ""
    yardstick: str = ""
    counts: str = ""
    tiers: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def split_export(export: Export, data: Path, work: Path) -> tuple[Path, Path, pd.DataFrame, Any]:
    """TRAIN.csv, HELDOUT.csv (outcome emptied), the training frame and the held-out truth."""
    frame = pd.read_csv(data / export.path, sep=export.sep, dtype=str, keep_default_na=False)
    frame = frame.drop(columns=list(export.drop))
    n = len(frame)
    if export.split == "random20":
        held = np.random.default_rng(0).random(n) < 0.2
    else:
        held = np.arange(n) >= int(n * 0.8)
    train, heldout = frame[~held], frame[held].copy()
    truth = (heldout[export.outcome].str.strip() == export.won).to_numpy(dtype=int)
    heldout[export.outcome] = ""
    paths = work / f"{export.name}-train.csv", work / f"{export.name}-heldout.csv"
    train.to_csv(paths[0], sep=export.sep, index=False)
    heldout.to_csv(paths[1], sep=export.sep, index=False)
    return paths[0], paths[1], train.reset_index(drop=True), truth


def held_out_positions(
    scores: pd.DataFrame, config: dict[str, Any], heldout: Path, sep: str
) -> pd.Series:
    """The held-out row (0-based) of every score: by data row number when the starter config
    numbers rows, else by the id column it maps to lead_id."""
    if (config.get("export") or {}).get("row_number_as_lead_id"):
        position = pd.to_numeric(scores["lead_id"], errors="coerce") - 1
    else:
        raw = pd.read_csv(heldout, sep=sep, dtype=str, keep_default_na=False)
        mapping = (config.get("columns") or {}).get("leads") or {}
        id_column = next((r for r, name in mapping.items() if name == "lead_id"), "lead_id")
        index = pd.Series(np.arange(len(raw)), index=raw[id_column].str.strip())
        position = scores["lead_id"].str.strip().map(index)
    return position


def auc_of(scores: pd.DataFrame, position: pd.Series, truth: Any) -> tuple[float | None, str]:
    ok = position.notna() & (position >= 0) & (position < len(truth))
    if not ok.all():
        return None, f"{int((~ok).sum())} scores whose lead_id matches no held-out row"
    if position.duplicated().any():
        return None, "a held-out row scored twice"
    y = np.asarray(truth)[position.astype(int).to_numpy()]
    if len(set(y)) < 2:
        return None, f"{len(y)} scored rows hold one class only"
    return float(roc_auc_score(y, scores["probability"])), ""


def tier_shares(scores: pd.DataFrame | None) -> str:
    if scores is None or scores.empty:
        return "–"
    share = scores["tier"].value_counts(normalize=True)
    return " / ".join(f"{share.get(t, 0.0):.0%}" for t in TIERS)


def lead_rejects(rejects: pd.DataFrame | None) -> int:
    if rejects is None or rejects.empty:
        return 0
    if "source" in rejects.columns:
        return int((~rejects["source"].str.contains("activit", case=False, na=False)).sum())
    return len(rejects)


def run_export(export: Export, data: Path, work: Path, helps: dict[str, str]) -> Row:
    row = Row(export.name, yardstick=f"{export.yardstick:.3f}")
    digest = hashlib.sha256((data / export.path).read_bytes()).hexdigest()
    if digest != export.sha256:
        row.notes.append(f"sha256 of {export.path} differs from the README's")
    train, heldout, frame, truth = split_export(export, data, work)
    row.rows = f"{len(frame):,} / {len(truth):,}"
    found = walk(work, train, heldout, None, AS_OF, frame, export.outcome, helps)
    row.seconds = found.seconds
    row.outcome_chosen = f"`{found.outcome_chosen}`" if found.outcome_chosen else "none"
    if not found.inspected:
        row.outcome_chosen = "–"
    if found.outcome_chosen not in (None, export.outcome):
        row.outcome_chosen += f" (not `{export.outcome}`)"
    row.excluded = found.excluded
    for i, (question, reply) in enumerate(zip(found.questions, found.answers, strict=False)):
        asked = "the question" if i == 0 else f"then: {question}"
        row.notes.append(f"answered {asked} with {reply}, as the yardstick's analyst would")
    result = _result(found, heldout, export.sep, truth)
    if found.questions:
        row.zero_edit = f"asks (train exit 2): {found.questions[0]}"
        row.after = result
    else:
        row.zero_edit = result
        row.after = "– (failed before any question)" if found.failure else "no question asked"
    if found.scores is not None:
        scored, rejected = len(found.scores), lead_rejects(found.rejects)
        row.counts = f"{scored:,} / {len(truth):,} ({rejected:,} rejected"
        if found.not_open:
            row.counts += f", {found.not_open:,} read as closed"
        missing = len(truth) - scored - rejected - (found.not_open or 0)
        row.counts += f", {missing:,} unaccounted)" if missing else ")"
    else:
        row.counts = "–"
    row.tiers = tier_shares(found.scores)
    row.notes += [f"train noted: {_clip(note)}" for note in found.train_notes]
    if found.drift:
        row.notes.append("score raised the drift alarm (exit 3; scores written)")
    return row


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _result(found: Walk, heldout: Path, sep: str, truth: Any) -> str:
    if found.failure is not None:
        return f"failed: {found.failure}"
    assert found.scores is not None
    if found.scores.empty:
        return "no AUC: 0 rows scored"
    position = held_out_positions(found.scores, found.config, heldout, sep)
    auc, why = auc_of(found.scores, position, truth)
    return f"**{auc:.3f}**" if auc is not None else f"no AUC: {why}"


# --- the dialect zoo -------------------------------------------------------------------------


ZOO_LEADS, ZOO_SEED, ZOO_NOW = 4000, 11, "2026-06-30"


def run_zoo(work: Path, helps: dict[str, str]) -> list[str]:
    """Every dialect of `leadscore generate` through the zero-edit path; Markdown lines."""
    from leadscore.pipelines.config import OutcomeSpellings
    from leadscore.pipelines.dialects import DIALECTS, leak_columns, mapping, reference_leads
    from leadscore.pipelines.io.tables import parse_as_of
    from leadscore.pipelines.synthetic import generate

    won = {v.strip().lower() for v in OutcomeSpellings().won}
    lines = [
        f"Dialect zoo: `leadscore generate --leads {ZOO_LEADS} --seed {ZOO_SEED} --now "
        f"{ZOO_NOW} --dialect NAME --truth`, trained on the export as written, the leads open "
        "at its date scored and compared with the generator's truth.\n",
        "| dialect | outcome inspect chose | zero-edit result | after answering | "
        "vs canonical | scored / rejected | wall |",
        "|---|---|---|---|---:|---|---:|",
    ]
    canonical: float | None = None
    references: dict[str, float | None] = {}  # a flat export is judged against its own kind
    dialects = [str(name) for name in DIALECTS]
    for name in dialects:
        folder = work / f"zoo-{name}"
        folder.mkdir()
        step = leadscore(
            ["generate", "--out", str(folder), "--dialect", name, "--leads", str(ZOO_LEADS),
             "--seed", str(ZOO_SEED), "--now", ZOO_NOW, "--truth"],
            folder,
        )  # fmt: skip
        if step.code == 0 and not (folder / "activities.csv").exists():
            # No activity table: the same one-row-per-lead table under the contract's names
            # (what a correct config reads it into) is the canonical to compare with.
            ref = work / f"zoo-{name}-contract-names"
            ref.mkdir()
            world = generate(ZOO_LEADS, ZOO_SEED, parse_as_of(ZOO_NOW))
            reference_leads(world, name).to_csv(ref / "leads.csv", index=False)
            truth_ref = world.truth[["lead_id", "outcome"]].astype(str)
            found_ref = walk(
                ref, ref / "leads.csv", ref / "leads.csv", None, ZOO_NOW,
                _read_any(ref / "leads.csv"), "outcome", helps, (),
            )  # fmt: skip
            references[name], _ = _zoo_auc(found_ref, _read_any(ref / "leads.csv"), truth_ref, won)
        if step.code != 0:
            lines.append(_row((name, "–", f"failed: {step.failure()}", "–", "–", "–", "–")))
            continue
        leads, activities = folder / "leads.csv", folder / "activities.csv"
        frame = _read_any(leads)
        truth = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False)
        acts = activities if activities.exists() else None
        # The analyst of a dialect knows its outcome header and its planted leaks.
        outcome = next((h for h, c in mapping(name)["leads"].items() if c == "outcome"), "outcome")
        leave_out = tuple(leak_columns(name))
        found = walk(folder, leads, leads, acts, ZOO_NOW, frame, outcome, helps, leave_out)
        auc, result = _zoo_auc(found, frame, truth, won)
        if name == dialects[0]:
            canonical = auc
        base = references.get(name, canonical)
        delta = f"{auc - base:+.3f}" if auc is not None and base is not None else "–"
        if name in references:
            delta += " (vs the same flat table under contract names)"
        scored = "–"
        if found.scores is not None:
            scored = f"{len(found.scores):,} / {lead_rejects(found.rejects):,}"
        zero, after = (f"asks: {found.questions[0]}", result) if found.questions else (result, "–")
        chosen = f"`{found.outcome_chosen}`" if found.outcome_chosen else "none"
        lines.append(_row((name, chosen, zero, after, delta, scored, f"{found.seconds:.0f} s")))
    return lines


def _read_any(path: Path) -> pd.DataFrame:
    """A CSV of any delimiter, as text; UTF-8, else Latin-1 (as the product reads them)."""
    try:
        return pd.read_csv(
            path, sep=None, engine="python", dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    except UnicodeDecodeError:
        return pd.read_csv(
            path, sep=None, engine="python", dtype=str, keep_default_na=False, encoding="latin-1"
        )


def _zoo_auc(
    found: Walk, frame: pd.DataFrame, truth: pd.DataFrame, won: set[str]
) -> tuple[float | None, str]:
    if found.failure is not None:
        return None, f"failed: {found.failure}"
    assert found.scores is not None
    outcome = truth["outcome"].str.strip().str.lower().isin(won).astype(int)
    if (found.config.get("export") or {}).get("row_number_as_lead_id"):
        y = pd.Series(outcome.to_numpy(), index=[str(i + 1) for i in range(len(truth))])
    else:
        y = pd.Series(outcome.to_numpy(), index=truth["lead_id"].str.strip())
    labels = found.scores["lead_id"].str.strip().map(y)
    if labels.isna().any():
        return None, f"no AUC: {int(labels.isna().sum())} scored ids not in truth.csv"
    if labels.nunique() < 2:
        return None, "no AUC: one class among the scored leads"
    auc = float(roc_auc_score(labels.astype(int), found.scores["probability"]))
    return auc, f"**{auc:.3f}**"


# --- report ----------------------------------------------------------------------------------


def _row(cells: tuple[str, ...]) -> str:
    """One Markdown table row; a `|` or a line break inside a cell would break the table."""
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", "features", "models", "pipelines"], cwd=ROOT
    ).returncode
    memory = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(re.findall(r"MemTotal:\s+(\d+)", meminfo.read_text())[0])
        memory = f"{kib / 2**20:.0f} GiB"
    return (
        f"commit `{commit or '?'}`{' + uncommitted changes in the package' if dirty else ''}, "
        f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, {memory} memory"
    )


def table(rows: list[Row], header: str, zoo: list[str], seconds: float) -> str:
    lines = [
        f"{header}; {seconds / 60:.1f} min in all. `--as-of {AS_OF}`; AUC = ROC AUC of "
        "`probability` on the held-out rows.\n",
        "| export | train / held out | outcome inspect chose | starter config leaves out | "
        "zero-edit result | after answering | yardstick (LightGBM) | scored / held out | "
        "tiers SQL / MQL / unqualified | wall |",
        "|---|---:|---|---|---|---|---:|---|---|---:|",
    ]
    for r in rows:
        left_out = ", ".join(f"`{c}`" for c, _ in r.excluded) or "nothing"
        cells = [r.name, r.rows, r.outcome_chosen, left_out, r.zero_edit, r.after, r.yardstick]
        lines.append(_row((*cells, r.counts, r.tiers, f"{r.seconds:.0f} s")))
    notes = []
    for r in rows:
        notes += [f"- {r.name}: `{c}` left out: {why}" for c, why in r.excluded]
        notes += [f"- {r.name}: {note}" for note in r.notes]
    if notes:
        lines += ["", *notes]
    if zoo:
        lines += ["", *zoo]
    return "\n".join(lines)


def write_results(text: str) -> None:
    """Replace the block between the exports-table markers of docs/results.md."""
    results = ROOT / "docs" / "results.md"
    content = results.read_text(encoding="utf-8")
    if MARK_START not in content or MARK_END not in content:
        raise SystemExit(f"{results}: no {MARK_START} ... {MARK_END} block to write into")
    head, rest = content.split(MARK_START, 1)
    content = f"{head}{MARK_START}\n{text}\n{MARK_END}{rest.split(MARK_END, 1)[1]}"
    results.write_text(content, encoding="utf-8")


def seed_spread(data: Path, base: Path, helps: dict[str, str], seeds: int) -> str:
    """Every public export's final held-out ROC AUC (zero-edit, or after answering as the
    yardstick's analyst would) at LightGBM seeds 1..``seeds``: Markdown, median and spread."""
    global LIGHTGBM_SEED
    start = time.perf_counter()
    lines = []
    for export in EXPORTS:
        aucs = []
        for seed in range(1, seeds + 1):
            LIGHTGBM_SEED = seed
            work = base / f"{export.name}-seed{seed}"
            work.mkdir(parents=True, exist_ok=False)
            train, heldout, frame, truth = split_export(export, data, work)
            found = walk(work, train, heldout, None, AS_OF, frame, export.outcome, helps)
            auc = None
            if found.failure is None and found.scores is not None and not found.scores.empty:
                position = held_out_positions(found.scores, found.config, heldout, export.sep)
                auc, _ = auc_of(found.scores, position, truth)
            aucs.append(float("nan") if auc is None else auc)
            print(f"{export.name}, seed {seed}: {aucs[-1]:.3f}", flush=True)
        known = np.array([a for a in aucs if np.isfinite(a)])
        spread = (
            f"**{np.median(known):.3f}** ({known.min():.3f}-{known.max():.3f})"
            if len(known)
            else "–"
        )
        cells = " | ".join("failed" if not np.isfinite(a) else f"{a:.3f}" for a in aucs)
        lines.append(f"| {export.name} | {cells} | {spread} | {export.yardstick:.3f} |")
    LIGHTGBM_SEED = None
    header = " | ".join(f"seed {k}" for k in range(1, seeds + 1))
    return "\n".join([
        f"{stamp(time.perf_counter() - start)}. Held-out ROC AUC after the zero-edit path (and "
        "the analyst's answer where `train` asks), the starter config's only edit the LightGBM "
        "seed.",
        "",
        f"| export | {header} | median (min-max) | yardstick (LightGBM) |",
        "|---" + "|---:" * (seeds + 2) + "|",
        *lines,
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [e.name for e in EXPORTS]
    parser.add_argument(
        "--only", choices=names, help="Run one export; no zoo, docs/results.md left as it is."
    )
    parser.add_argument("--data", type=Path, default=DATA, help="Folder holding the exports.")
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    parser.add_argument("--no-zoo", action="store_true", help="Skip the dialect zoo.")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep its files.")
    parser.add_argument(
        "--seeds",
        type=int,
        help="Instead: each export's final ROC AUC at LightGBM seeds 1..N (block exports_seeds).",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    helps = {c: leadscore([c, "--help"], ROOT).stdout for c in ("generate", "train", "score")}
    if args.seeds:
        with tempfile.TemporaryDirectory(prefix="leadscore-exports-") as tmp:
            spread = seed_spread(args.data, args.keep or Path(tmp), helps, args.seeds)
        with published("exports_seeds", not args.no_write):
            print(spread)
        return
    with tempfile.TemporaryDirectory(prefix="leadscore-exports-") as tmp:
        base = args.keep or Path(tmp)
        rows = []
        for export in EXPORTS:
            if args.only and export.name != args.only:
                continue
            work = base / export.name
            work.mkdir(parents=True, exist_ok=False)
            print(f"{export.name} ...", flush=True)
            rows.append(run_export(export, args.data, work, helps))
            print(f"  {rows[-1].zero_edit} | {rows[-1].after} ({rows[-1].seconds:.0f} s)")
        zoo = [] if args.only or args.no_zoo else run_zoo(base, helps)
    text = table(rows, machine(), zoo, time.perf_counter() - start)
    text = text.replace(f"{base}/", "<tmp>/")  # messages name the work folder's files
    print(text)
    if not args.no_write and not args.only:
        write_results(text)


if __name__ == "__main__":
    main()
