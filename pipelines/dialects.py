"""The generated world exported the way real CRMs export it: the zoo behind
``leadscore generate --dialect NAME``.

What it promises:
- Every dialect renders the same ``World``: the same leads, outcomes, instants (to the minute
  where a CRM writes no seconds) and activities (``flat``: counted per lead up to its close).
  Only what a CRM's export changes differs: column names and order, id format, timestamp
  format (always ISO 8601 the product parses: with or without ``T``, seconds, offset),
  outcome words, the spelling of activity types (case, spaces, hyphens: the same words, so
  the same features), delimiter, encoding and line ends.
- ``canonical`` is the data contract itself, byte-identical to ``synthetic.write_world``.
- Every other dialect plants traps real exports have: columns written when the outcome is
  known (``leak_columns`` names them; a correct starter config excludes each), personal
  data, id columns that are not the lead id, 0/1 flags beside a 0/1 outcome.
- One definition per dialect: a row of ``_TABLE``. Planted columns are small functions of
  the world in ``_PLANTS``, each saying whether it leaks; ``mapping`` and
  ``reference_leads`` are read off the same row, so they cannot drift from the export.
- Deterministic: the same world and dialect give the same bytes.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.schema import normalise_activity_type
from leadscore.models.points import DEFAULT_POINTS
from leadscore.pipelines.synthetic import FIRST, LAST, World

CANONICAL = "canonical"
# In the order write_world writes them.
CONTRACT_LEADS: tuple[str, ...] = (
    *(schema.LEAD_ID, schema.CREATED_AT, schema.OUTCOME, schema.CLOSED_AT),
    *(schema.LEAD_SOURCE, schema.INDUSTRY, schema.COMPANY_SIZE, schema.COUNTRY),
    *(schema.JOB_TITLE, schema.EMAIL),
)
CONTRACT_ACTIVITIES = (schema.LEAD_ID, schema.OCCURRED_AT, schema.ACTIVITY_TYPE, schema.VALUE)
SALES_SIDE = ("meeting", "sales_call")


@dataclass(frozen=True)
class Outcomes:
    """The words an export writes per outcome; the first of each is the most common."""

    won: tuple[str, ...]
    lost: tuple[str, ...]
    open: tuple[str, ...]


@dataclass(frozen=True)
class Dialect:
    """One kind of export. Columns are (export header, source): a contract column or a key
    of ``_PLANTS`` / ``_ACTIVITY_PLANTS``. No activity columns: a flat export."""

    name: str
    imitates: str
    leads: tuple[tuple[str, str], ...]
    activities: tuple[tuple[str, str], ...]
    outcomes: Outcomes
    ids: str = "keep"  # key of _ID_STYLES
    timestamps: str = "iso_z"  # key of _STAMPS
    activity_types: str = "keep"  # key of _TYPE_STYLES
    whole_values: bool = True  # activity values as whole numbers (45, not 45.0)
    sep: str = ","
    encoding: str = "utf-8"
    line_end: str | None = None  # None: the platform's, as pandas writes by default


# -- what the world knows, per lead ------------------------------------------------------


class _Facts:
    """The world seen lead by lead, computed once per render; ``rng(key)`` gives each planted
    column its own stream, so a column's values do not depend on which others are drawn."""

    def __init__(self, world: World) -> None:
        self.world = world
        leads = world.leads
        self.n = len(leads)
        status = leads[schema.OUTCOME].astype(str).to_numpy()
        self.won = status == schema.WON
        self.lost = status == schema.LOST
        self.open = ~(self.won | self.lost)
        truth = world.truth.set_index(schema.LEAD_ID)[schema.OUTCOME]
        self.eventually_won = leads[schema.LEAD_ID].map(truth).eq(schema.WON).to_numpy()
        self.created = pd.Series(pd.to_datetime(leads[schema.CREATED_AT], utc=True))
        self.closed = pd.Series(pd.to_datetime(leads[schema.CLOSED_AT], utc=True))
        self.cutoff = self.closed.fillna(world.now)  # close, or the export date for open leads
        self.salt = str(leads[schema.LEAD_ID].iloc[0]) if self.n else ""

    def rng(self, key: str) -> np.random.Generator:
        return np.random.default_rng([zlib.crc32(f"{key}|{self.salt}".encode()), self.n])

    @cached_property
    def acts(self) -> pd.DataFrame:
        """Activities of known leads: lead position, folded type, time, value."""
        raw = self.world.activities
        position = pd.Series(np.arange(self.n), index=self.world.leads[schema.LEAD_ID].to_numpy())
        lead = raw[schema.LEAD_ID].map(position)
        known = lead.notna().to_numpy()
        return pd.DataFrame(
            {
                "lead": lead[known].astype("int64").to_numpy(),
                "type": normalise_activity_type(raw[schema.ACTIVITY_TYPE])[known]
                .astype(str)
                .to_numpy(),
                "at": pd.Series(raw[schema.OCCURRED_AT])[known].to_numpy(),
                "value": raw[schema.VALUE][known].to_numpy(dtype="float64"),
            }
        )

    @cached_property
    def before_close(self) -> pd.DataFrame:
        """Activities before each lead's close (open leads: before the export date)."""
        acts = self.acts
        cutoff = self.cutoff.to_numpy()[acts["lead"].to_numpy()]
        return acts[acts["at"].to_numpy() < cutoff]

    def per_lead(self, values: pd.Series) -> np.ndarray:
        """A per-activity sum (index = lead position) as one number per lead, 0 if none."""
        return values.groupby(level=0).sum().reindex(range(self.n), fill_value=0).to_numpy()

    @cached_property
    def names(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last names as people type them, read off the e-mail address
        (``anna.mueller42@gmx.de``); drawn for leads without one."""
        local = self.world.leads[schema.EMAIL].astype(str).str.split("@").str[0]
        parts = local.str.replace(r"\d+$", "", regex=True).str.split(".", n=1, expand=True)
        rng = self.rng("names")
        first = np.array(FIRST, dtype=object)[rng.integers(len(FIRST), size=self.n)]
        last = np.array(LAST, dtype=object)[rng.integers(len(LAST), size=self.n)]
        has = (parts[1].notna() & (parts[0] != "")).to_numpy()
        first = np.where(has, parts[0].fillna(""), first)
        last = np.where(has, parts[1].fillna(""), last)
        return (
            pd.Series(first).str.title().to_numpy(dtype=object),
            pd.Series(last).str.title().to_numpy(dtype=object),
        )


def _pick(rng: np.random.Generator, choices: dict[str, float], n: int) -> np.ndarray:
    words = list(choices)
    p = np.array([choices[w] for w in words], dtype=float)
    return np.array(words, dtype=object)[rng.choice(len(words), size=n, p=p / p.sum())]


def _by_status(
    facts: _Facts,
    key: str,
    won: dict[str, float],
    lost: dict[str, float],
    open_: dict[str, float] | None = None,
) -> pd.Series:
    """One categorical draw per lead from the table of its status. Without an ``open_``
    table, open leads draw from the won or lost table of their eventual outcome (what a
    salesperson working the lead comes to sense)."""
    rng = facts.rng(key)
    out = np.where(facts.won, _pick(rng, won, facts.n), _pick(rng, lost, facts.n))
    if open_ is None:
        hunch = np.where(facts.eventually_won, _pick(rng, won, facts.n), _pick(rng, lost, facts.n))
        return pd.Series(np.where(facts.open, hunch, out), dtype=object)
    return pd.Series(np.where(facts.open, _pick(rng, open_, facts.n), out), dtype=object)


# -- planted lead columns ------------------------------------------------------------------


@dataclass(frozen=True)
class Plant:
    make: Callable[[_Facts], pd.Series]
    leaks: bool  # written when (or because) the outcome is known
    what: str


def _first_name(f: _Facts) -> pd.Series:
    return pd.Series(f.names[0], dtype=object)


def _last_name(f: _Facts) -> pd.Series:
    return pd.Series(f.names[1], dtype=object)


def _full_name(f: _Facts) -> pd.Series:
    first, last = f.names
    return pd.Series(first + " " + last, dtype=object)


def _won_date(f: _Facts) -> pd.Series:
    return f.closed.where(f.won)


def _lost_date(f: _Facts) -> pd.Series:
    return f.closed.where(f.lost)


def _updated_at(f: _Facts) -> pd.Series:
    """Last modified: the latest of creation, close and any activity up to the export
    (won leads keep using the product after the close), plus the CRM's own sync delay."""
    last_act = f.acts.groupby("lead")["at"].max().reindex(range(f.n))
    latest = pd.concat([f.created, f.closed, pd.Series(last_act.to_numpy())], axis=1).max(axis=1)
    delay = pd.to_timedelta(np.round(f.rng("updated").uniform(0, 7200, f.n)), unit="s")
    return pd.Series(np.minimum(latest + delay, f.world.now))


def _lost_reason(f: _Facts) -> pd.Series:
    reasons = {
        "No budget": 3.0,
        "Went with a competitor": 2.0,
        "No response": 3.0,
        "Not the right fit": 2.0,
        "Bad timing": 1.0,
    }
    picked = _pick(f.rng("lost_reason"), reasons, f.n)
    return pd.Series(np.where(f.lost, picked, ""), dtype=object)


def _rating(f: _Facts) -> pd.Series:
    """Hot / Warm / Cold: the salesperson's verdict, set mostly on leads sales called or met
    (their calls follow the outcome), from what they came to know about the deal."""
    touched = np.zeros(f.n, dtype=bool)
    touched[f.acts.loc[f.acts["type"].isin(SALES_SIDE), "lead"].unique()] = True
    rng = f.rng("rating_set")
    rated = rng.random(f.n) < np.where(touched, 0.9, 0.1)
    verdict = _by_status(
        f,
        "rating",
        won={"Hot": 0.65, "Warm": 0.3, "Cold": 0.05},
        lost={"Hot": 0.08, "Warm": 0.32, "Cold": 0.6},
    )
    return verdict.where(rated, "")


def _lead_score(f: _Facts) -> pd.Series:
    """A vendor's points score as of the export: points for every activity so far (post-close
    ones included), +50 on becoming a customer, halved on disqualification."""
    points = f.acts["type"].map(DEFAULT_POINTS).fillna(0.0)
    score = f.per_lead(pd.Series(points.to_numpy(), index=f.acts["lead"].to_numpy()))
    score = np.where(f.won, score + 50, np.where(f.lost, np.floor(score / 2), score))
    return pd.Series(score.astype("int64"))


def _stage(f: _Facts) -> pd.Series:
    """The pipeline stage a deal reached: wins end late in the pipeline, losses early."""
    return _by_status(
        f,
        "stage",
        won={"Negotiations Started": 0.6, "Proposal Made": 0.35, "Demo Scheduled": 0.05},
        lost={
            "Qualified": 0.35,
            "Contact Made": 0.35,
            "Demo Scheduled": 0.2,
            "Proposal Made": 0.08,
            "Negotiations Started": 0.02,
        },
    )


def _tags(f: _Facts) -> pd.Series:
    return _by_status(
        f,
        "tags",
        won={"Closed by Sales": 0.75, "Will revert after reading the email": 0.15, "": 0.1},
        lost={
            "Ringing": 0.3,
            "Interested in other products": 0.2,
            "No budget": 0.2,
            "Already a customer of a competitor": 0.1,
            "": 0.2,
        },
        open_={"Will revert after reading the email": 0.4, "Ringing": 0.2, "": 0.4},
    )


def _order_value(f: _Facts) -> pd.Series:
    """Auftragswert: the order value in EUR with a decimal comma, known once the deal is won."""
    euros = np.round(np.exp(f.rng("order_value").normal(np.log(12_000), 0.6, f.n)), -1)
    text = pd.Series(euros.astype("int64").astype(str), dtype=object) + ",00"
    return text.where(f.won, "")


def _flag(key: str, share: float) -> Callable[[_Facts], pd.Series]:
    def make(f: _Facts) -> pd.Series:
        return pd.Series((f.rng(key).random(f.n) < share).astype("int64"))

    return make


def _text_in(column: str, values: set[str], yes: str, no: str) -> Callable[[_Facts], pd.Series]:
    def make(f: _Facts) -> pd.Series:
        text = f.world.leads[column].astype(str).str.strip().str.lower().str.replace("_", " ")
        return pd.Series(np.where(text.isin(values), yes, no), dtype=object)

    return make


def _lead_number(f: _Facts) -> pd.Series:
    k = np.arange(f.n)
    return pd.Series(580_000 + 3 * k + k % 3)


def _count(kind: str) -> Callable[[_Facts], pd.Series]:
    def make(f: _Facts) -> pd.Series:
        acts = f.before_close
        hits = pd.Series((acts["type"] == kind).to_numpy(dtype="int64"), index=acts["lead"])
        return pd.Series(f.per_lead(hits).astype("int64"))

    return make


def _visits(f: _Facts) -> np.ndarray:
    views = f.before_close[f.before_close["type"] == "page_view"]
    days = pd.DataFrame({"lead": views["lead"], "day": pd.Series(views["at"]).dt.floor("D")})
    per_lead = days.drop_duplicates().groupby("lead").size()
    return per_lead.reindex(range(f.n), fill_value=0).to_numpy()


def _total_visits(f: _Facts) -> pd.Series:
    return pd.Series(_visits(f).astype("int64"))


def _time_on_site(f: _Facts) -> pd.Series:
    views = f.before_close[f.before_close["type"] == "page_view"]
    seconds = pd.Series(views["value"].fillna(0.0).to_numpy(), index=views["lead"].to_numpy())
    return pd.Series(f.per_lead(seconds).astype("int64"))


def _views_per_visit(f: _Facts) -> pd.Series:
    views = _count("page_view")(f).to_numpy(dtype=float)
    visits = _visits(f).astype(float)
    return pd.Series(np.round(np.divide(views, visits, out=np.zeros(f.n), where=visits > 0), 2))


_DACH = {"de", "germany", "deutschland", "at", "austria", "österreich", "ch", "switzerland"}
_DACH |= {"schweiz"}
_ENGAGEMENT = {
    "pricing_views": "pricing_page_view",
    "emails_opened": "email_open",
    "email_clicks": "email_click",
    "downloads": "content_download",
    "webinars_attended": "webinar_attended",
    "demo_requests": "demo_request",
    "trial_signups": "trial_signup",
}

_PLANTS: dict[str, Plant] = {
    "first_name": Plant(_first_name, False, "personal data: first names"),
    "last_name": Plant(_last_name, False, "personal data: last names"),
    "full_name": Plant(_full_name, False, "personal data: the contact's full name"),
    "won_date": Plant(_won_date, True, "a date filled only for won leads"),
    "lost_date": Plant(_lost_date, True, "a date filled only for lost leads"),
    "lost_reason": Plant(_lost_reason, True, "a reason filled only for lost leads"),
    "updated_at": Plant(_updated_at, True, "last modified: moves with the close and after it"),
    "rating": Plant(_rating, True, "the salesperson's verdict, set while working the lead"),
    "lead_score": Plant(_lead_score, True, "a vendor score computed knowing the outcome"),
    "stage": Plant(_stage, True, "the pipeline stage a deal reached"),
    "tags": Plant(_tags, True, "sales' tags, written as the deal moves"),
    "order_value": Plant(_order_value, True, "the order value, known once won"),
    "lead_number": Plant(_lead_number, False, "a second id: sequential numbers"),
    "do_not_email": Plant(_flag("do_not_email", 0.08), False, "0/1 opt-out flag"),
    "do_not_call": Plant(_flag("do_not_call", 0.04), False, "0/1 opt-out flag"),
    "region_dach": Plant(_text_in(schema.COUNTRY, _DACH, "1", "0"), False, "0/1 region dummy"),
    "search": Plant(
        _text_in(schema.LEAD_SOURCE, {"organic search", "paid search"}, "Yes", "No"),
        False,
        "Yes/No channel flag",
    ),
    "recommendation": Plant(
        _text_in(schema.LEAD_SOURCE, {"referral", "partner"}, "Yes", "No"),
        False,
        "Yes/No channel flag",
    ),
    "total_visits": Plant(_total_visits, False, "visits (days with page views) before close"),
    "page_views": Plant(_count("page_view"), False, "page views before close"),
    "views_per_visit": Plant(_views_per_visit, False, "page views per visit before close"),
    "time_on_site": Plant(_time_on_site, False, "seconds on the website before close"),
    **{
        key: Plant(_count(kind), False, f"{kind} count before close")
        for key, kind in _ENGAGEMENT.items()
    },
}

# Activity-side planted columns: (facts) -> one value per activity row.
_ACTIVITY_PLANTS: dict[str, Callable[[_Facts], pd.Series]] = {
    "activity_id": lambda f: pd.Series(
        900_000_000 + 7 * np.arange(len(f.world.activities)), dtype="int64"
    ),
    "activity_guid": lambda f: pd.Series(
        [
            str(uuid.UUID(hashlib.md5(f"act|{f.salt}|{i}".encode()).hexdigest(), version=4))
            for i in range(len(f.world.activities))
        ],
        dtype=object,
    ),
}


# -- formats -----------------------------------------------------------------------------


def _stamp(fmt: str, zone: str = "UTC") -> Callable[[pd.Series], pd.Series]:
    """Timestamps as text in ``fmt`` (``%z`` written as ``+02:00``), in ``zone``."""

    def render(values: pd.Series) -> pd.Series:
        times = pd.Series(pd.to_datetime(values, utc=True))
        text = times.dt.tz_convert(zone).dt.strftime(fmt)
        if "%z" in fmt:
            text = text.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)
        return text.where(times.notna(), "").astype(object)

    return render


_STAMPS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "iso_z": _stamp("%Y-%m-%dT%H:%M:%SZ"),  # the contract's own
    "minutes": _stamp("%Y-%m-%d %H:%M"),  # HubSpot's exports: no seconds
    "salesforce": _stamp("%Y-%m-%dT%H:%M:%S.000+0000"),  # the Salesforce API's
    "space": _stamp("%Y-%m-%d %H:%M:%S"),  # UTC without an offset
    "berlin": _stamp("%Y-%m-%dT%H:%M:%S%z", "Europe/Berlin"),  # local time with its offset
}

_TYPE_STYLES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "keep": lambda s: s,
    "upper": lambda s: s.str.upper(),  # PRICING_PAGE_VIEW
    "title": lambda s: s.str.replace("_", " ").str.title(),  # Pricing Page View
    "sentence": lambda s: s.str.replace("_", " ").str.capitalize(),  # Pricing page view
    "hyphen": lambda s: s.str.replace("_", "-").str.lower(),  # pricing-page-view
}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits))


def salesforce_id(id15: str) -> str:
    """The 18-character, case-insensitive form of a 15-character Salesforce id: each block of
    five characters adds one character encoding which of them are upper case."""
    suffix = ""
    for block in range(3):
        bits = sum(1 << i for i, c in enumerate(id15[5 * block : 5 * block + 5]) if c.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


def _hashed(name: str, ids: list[str]) -> list[str]:
    return [hashlib.md5(f"{name}|{i}".encode()).hexdigest() for i in ids]


# (dialect name, ids in creation order then unknown ones) -> ids as the export writes them
_ID_STYLES: dict[str, Callable[[str, list[str]], Sequence[object]]] = {
    "keep": lambda name, ids: list(ids),
    "integer": lambda name, ids: [30_501_000 + 17 * k + (7 * k) % 17 for k in range(len(ids))],
    "salesforce": lambda name, ids: [
        salesforce_id("00Q1t00000" + _base62(62**4 * 11 + 123_457 + 53 * k, 5))
        for k in range(len(ids))
    ],
    "hex32": _hashed,
    "uuid": lambda name, ids: [str(uuid.UUID(h, version=4)) for h in _hashed(name, ids)],
}


# -- the zoo -------------------------------------------------------------------------------

_CONTRACT_WORDS = Outcomes(won=(schema.WON,), lost=(schema.LOST,), open=("",))
_HUBSPOT_ACTS = (
    ("Activity ID", "activity_id"),
    ("Contact ID", schema.LEAD_ID),
    ("Activity Date", schema.OCCURRED_AT),
    ("Activity Type", schema.ACTIVITY_TYPE),
    ("Duration (s)", schema.VALUE),
)

_TABLE: tuple[Dialect, ...] = (
    Dialect(
        name=CANONICAL,
        imitates="the data contract itself (what `generate` always wrote)",
        leads=tuple((c, c) for c in CONTRACT_LEADS),
        activities=tuple((c, c) for c in CONTRACT_ACTIVITIES),
        outcomes=_CONTRACT_WORDS,
        whole_values=False,
    ),
    Dialect(
        name="hubspot",
        imitates="HubSpot contacts export (numeric record ids, minute timestamps) and an "
        "engagements export",
        leads=(
            ("Record ID", schema.LEAD_ID),
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Email", schema.EMAIL),
            ("Job Title", schema.JOB_TITLE),
            ("Create Date", schema.CREATED_AT),
            ("Lead Status", schema.OUTCOME),
            ("Lead Status Date", schema.CLOSED_AT),
            ("Became a Customer Date", "won_date"),
            ("Original Source", schema.LEAD_SOURCE),
            ("Industry", schema.INDUSTRY),
            ("Number of Employees", schema.COMPANY_SIZE),
            ("Country/Region", schema.COUNTRY),
        ),
        activities=_HUBSPOT_ACTS,
        outcomes=Outcomes(
            won=("Customer",),
            lost=("Unqualified", "Bad Timing"),
            open=("New", "Attempted to Contact", "In Progress", "Connected", "Open Deal", "Open"),
        ),
        ids="integer",
        timestamps="minutes",
        activity_types="upper",
    ),
    Dialect(
        name="salesforce",
        imitates="Salesforce lead report (18-character ids, API timestamps) and an activity report",
        leads=(
            ("Lead ID", schema.LEAD_ID),
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Title", schema.JOB_TITLE),
            ("Email", schema.EMAIL),
            ("Created Date", schema.CREATED_AT),
            ("Lead Status", schema.OUTCOME),
            ("Status Changed Date", schema.CLOSED_AT),
            ("Converted Date", "won_date"),
            ("Rating", "rating"),
            ("Lead Source", schema.LEAD_SOURCE),
            ("Industry", schema.INDUSTRY),
            ("No. of Employees", schema.COMPANY_SIZE),
            ("Country", schema.COUNTRY),
        ),
        activities=(
            ("Lead ID", schema.LEAD_ID),
            ("Date", schema.OCCURRED_AT),
            ("Activity Type", schema.ACTIVITY_TYPE),
            ("Duration", schema.VALUE),
        ),
        outcomes=Outcomes(
            won=("Closed - Converted",),
            lost=("Closed - Not Converted",),
            open=("Working - Contacted", "Open - Not Contacted"),
        ),
        ids="salesforce",
        timestamps="salesforce",
        activity_types="title",
    ),
    Dialect(
        name="marketo",
        imitates="Marketo person export with a vendor lead score and a lifecycle stage, and "
        "an activity log",
        leads=(
            ("Id", schema.LEAD_ID),
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Email Address", schema.EMAIL),
            ("Job Title", schema.JOB_TITLE),
            ("Created At", schema.CREATED_AT),
            ("Updated At", "updated_at"),
            ("Lifecycle Stage", schema.OUTCOME),
            ("Lifecycle Stage Date", schema.CLOSED_AT),
            ("Lead Source", schema.LEAD_SOURCE),
            ("Industry", schema.INDUSTRY),
            ("Number of Employees", schema.COMPANY_SIZE),
            ("Country", schema.COUNTRY),
            ("Lead Score", "lead_score"),
        ),
        activities=(
            ("Marketo GUID", "activity_guid"),
            ("Lead Id", schema.LEAD_ID),
            ("Activity Date", schema.OCCURRED_AT),
            ("Activity Type", schema.ACTIVITY_TYPE),
            ("Time on Page (s)", schema.VALUE),
        ),
        outcomes=Outcomes(
            won=("Customer",),
            lost=("Disqualified",),
            open=("MQL", "Inquiry", "SQL", "Opportunity"),
        ),
        ids="integer",
        activity_types="sentence",
    ),
    Dialect(
        name="pipedrive",
        imitates="Pipedrive deals export (status won / lost / open, won and lost times, "
        "stage, lost reason) and its activities",
        leads=(
            ("ID", schema.LEAD_ID),
            ("Contact person", "full_name"),
            ("Email", schema.EMAIL),
            ("Job title", schema.JOB_TITLE),
            ("Deal created", schema.CREATED_AT),
            ("Status", schema.OUTCOME),
            ("Stage", "stage"),
            ("Deal closed on", schema.CLOSED_AT),
            ("Won time", "won_date"),
            ("Lost time", "lost_date"),
            ("Lost reason", "lost_reason"),
            ("Source channel", schema.LEAD_SOURCE),
            ("Industry", schema.INDUSTRY),
            ("Number of employees", schema.COMPANY_SIZE),
            ("Country", schema.COUNTRY),
        ),
        activities=(
            ("Deal ID", schema.LEAD_ID),
            ("Marked as done time", schema.OCCURRED_AT),
            ("Type", schema.ACTIVITY_TYPE),
            ("Duration (seconds)", schema.VALUE),
        ),
        outcomes=Outcomes(won=("won",), lost=("lost",), open=("open",)),
        ids="integer",
        timestamps="space",
        activity_types="hyphen",
    ),
    Dialect(
        name="flat",
        imitates="one row per lead (UUID ids), engagement pre-aggregated as of each lead's "
        "close, a 0/1 outcome among other 0/1 and yes/no flags",
        leads=(
            ("Prospect ID", schema.LEAD_ID),
            ("Lead Number", "lead_number"),
            ("Created", schema.CREATED_AT),
            ("Lead Source", schema.LEAD_SOURCE),
            ("Do Not Email", "do_not_email"),
            ("Do Not Call", "do_not_call"),
            ("Converted", schema.OUTCOME),
            ("TotalVisits", "total_visits"),
            ("Total Time Spent on Website", "time_on_site"),
            ("Page Views Per Visit", "views_per_visit"),
            ("Pricing Page Views", "pricing_views"),
            ("Emails Opened", "emails_opened"),
            ("Email Clicks", "email_clicks"),
            ("Content Downloads", "downloads"),
            ("Webinars Attended", "webinars_attended"),
            ("Demo Requests", "demo_requests"),
            ("Trial Signups", "trial_signups"),
            ("Country", schema.COUNTRY),
            ("Region_DACH", "region_dach"),
            ("Industry", schema.INDUSTRY),
            ("Company Size", schema.COMPANY_SIZE),
            ("Job Title", schema.JOB_TITLE),
            ("Email", schema.EMAIL),
            ("Search", "search"),
            ("Through Recommendations", "recommendation"),
            ("Tags", "tags"),
            ("Closed", schema.CLOSED_AT),
        ),
        activities=(),
        outcomes=Outcomes(won=("1",), lost=("0",), open=("",)),
        ids="uuid",
        timestamps="space",
    ),
    Dialect(
        name="german",
        imitates="a German CRM's export: German headers, ';' and Windows-1252 as Excel writes "
        "them, local times with their offset, 32-hex ids",
        leads=(
            ("Lead-ID", schema.LEAD_ID),
            ("Vorname", "first_name"),
            ("Nachname", "last_name"),
            ("E-Mail", schema.EMAIL),
            ("Position", schema.JOB_TITLE),
            ("Erstellt am", schema.CREATED_AT),
            ("Status", schema.OUTCOME),
            ("Abschlussdatum", schema.CLOSED_AT),
            ("Auftragswert (EUR)", "order_value"),
            ("Quelle", schema.LEAD_SOURCE),
            ("Branche", schema.INDUSTRY),
            ("Mitarbeiterzahl", schema.COMPANY_SIZE),
            ("Land", schema.COUNTRY),
        ),
        activities=(
            ("Lead-ID", schema.LEAD_ID),
            ("Zeitpunkt", schema.OCCURRED_AT),
            ("Aktivitätstyp", schema.ACTIVITY_TYPE),
            ("Dauer (Sek.)", schema.VALUE),
        ),
        outcomes=Outcomes(won=("Gewonnen",), lost=("Verloren",), open=("Offen",)),
        ids="hex32",
        timestamps="berlin",
        activity_types="title",
        sep=";",
        encoding="cp1252",
        line_end="\r\n",
    ),
)
_BY_NAME = {d.name: d for d in _TABLE}
DIALECTS: tuple[str, ...] = tuple(_BY_NAME)


def dialect(name: str) -> Dialect:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown dialect {name!r}; expected one of {', '.join(DIALECTS)}"
        ) from None


def leak_columns(name: str) -> tuple[str, ...]:
    """The export headers of the planted columns that leak the outcome."""
    return tuple(h for h, s in dialect(name).leads if _leaks(s))


def _leaks(source: str) -> bool:
    return source in _PLANTS and _PLANTS[source].leaks


def mapping(name: str) -> dict[str, dict[str, str]]:
    """The column mapping a correct config has for this dialect (``columns:`` in YAML)."""
    d = dialect(name)
    return {
        "leads": {h: s for h, s in d.leads if s in CONTRACT_LEADS},
        "activities": {h: s for h, s in d.activities if s in CONTRACT_ACTIVITIES},
    }


@dataclass(frozen=True)
class Export:
    """A dialect's tables, cells as they are written."""

    dialect: Dialect
    leads: pd.DataFrame
    activities: pd.DataFrame | None  # None: a flat export
    truth: pd.DataFrame  # the contract's truth table with the export's ids


def _outcome_words(facts: _Facts, words: Outcomes, key: str) -> np.ndarray:
    rng = facts.rng(f"outcome|{key}")

    def draw(options: tuple[str, ...]) -> np.ndarray:
        weights = {w: 1.0 / (rank + 1) for rank, w in enumerate(options)}
        return _pick(rng, weights, facts.n)

    won, lost, open_ = draw(words.won), draw(words.lost), draw(words.open)
    return np.where(facts.won, won, np.where(facts.lost, lost, open_))


def _render(world: World, d: Dialect, facts: _Facts) -> Export:
    leads, acts = world.leads, world.activities
    known = list(leads[schema.LEAD_ID].astype(str))
    unknown = [i for i in pd.unique(acts[schema.LEAD_ID].astype(str)) if i not in set(known)]
    rendered = _ID_STYLES[d.ids](d.name, known + unknown)
    if len(set(map(str, rendered))) != len(rendered):
        raise AssertionError(f"dialect {d.name}: rendered ids collide")
    ids = dict(zip(known + unknown, rendered, strict=True))
    stamp = _STAMPS[d.timestamps]

    columns: dict[str, object] = {}
    for header, source in d.leads:
        if source == schema.LEAD_ID:
            columns[header] = leads[source].astype(str).map(ids).to_numpy()
        elif source in (schema.CREATED_AT, schema.CLOSED_AT):
            columns[header] = stamp(leads[source]).to_numpy()
        elif source == schema.OUTCOME:
            columns[header] = _outcome_words(facts, d.outcomes, d.name)
        elif source in CONTRACT_LEADS:
            columns[header] = leads[source].to_numpy()
        else:
            values = _PLANTS[source].make(facts)
            if isinstance(values.dtype, pd.DatetimeTZDtype):
                values = stamp(values)
            columns[header] = values.to_numpy()
    lead_frame = pd.DataFrame(columns)

    activity_frame = None
    if d.activities:
        cells: dict[str, object] = {}
        for header, source in d.activities:
            if source == schema.LEAD_ID:
                cells[header] = acts[source].astype(str).map(ids).to_numpy()
            elif source == schema.OCCURRED_AT:
                cells[header] = stamp(acts[source]).to_numpy()
            elif source == schema.ACTIVITY_TYPE:
                cells[header] = _TYPE_STYLES[d.activity_types](acts[source]).to_numpy()
            elif source == schema.VALUE:
                value = acts[source]
                cells[header] = (value.round().astype("Int64") if d.whole_values else value).array
            else:
                cells[header] = _ACTIVITY_PLANTS[source](facts).to_numpy()
        activity_frame = pd.DataFrame(cells)

    truth = world.truth.copy()
    truth[schema.LEAD_ID] = truth[schema.LEAD_ID].astype(str).map(ids)
    truth[schema.CLOSED_AT] = _STAMPS["iso_z"](truth[schema.CLOSED_AT])
    return Export(d, lead_frame, activity_frame, truth)


def render(world: World, name: str = CANONICAL) -> Export:
    """The world as ``name`` exports it."""
    return _render(world, dialect(name), _Facts(world))


def reference_leads(world: World, name: str) -> pd.DataFrame:
    """The dialect's leads table as the contract names it: contract columns under their
    contract names with contract values, the dialect's other columns (engagement counts,
    flags, names) unchanged, planted leaks left out. For a flat export, this is the table a
    correct config reads the export into; a model trained on it is the yardstick."""
    d = dialect(name)
    keep = tuple((s if s in CONTRACT_LEADS else h, s) for h, s in d.leads if not _leaks(s))
    plain = replace(d, leads=keep, ids="keep", timestamps="iso_z", outcomes=_CONTRACT_WORDS)
    return _render(world, plain, _Facts(world)).leads


def write_export(
    world: World, out_dir: Path, name: str = CANONICAL, with_truth: bool = False
) -> list[Path]:
    """Write leads.csv, activities.csv (not for a flat export) and truth.csv as ``name``
    exports them. ``canonical`` writes exactly what ``synthetic.write_world`` writes."""
    export = render(world, name)
    d = export.dialect
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = [("leads.csv", export.leads), ("activities.csv", export.activities)]
    written = []
    for file, frame in tables:
        if frame is None:
            continue
        path = out_dir / file
        frame.to_csv(path, index=False, sep=d.sep, encoding=d.encoding, lineterminator=d.line_end)
        written.append(path)
    if with_truth:
        path = out_dir / "truth.csv"
        export.truth.to_csv(path, index=False)
        written.append(path)
    return written


def describe(name: str) -> str:
    """One line: what the dialect imitates and the leaks it plants."""
    d = dialect(name)
    leaks = ", ".join(f"{h!r} ({_PLANTS[s].what})" for h, s in d.leads if _leaks(s))
    return f"{d.name}: {d.imitates}" + (f"; planted leaks: {leaks}" if leaks else "")
