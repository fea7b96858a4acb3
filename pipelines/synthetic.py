"""A synthetic B2B CRM world in the data contract's shape.

Leads arrive over about two years with firmographics, free-text job titles in English and
German and messy spellings. Each lead has a hidden fit and interest; interest drives its
activities (e-mail cadence with opens and clicks, page views with durations, webinars,
downloads, demo and trial requests); fit, interest and a base rate that drifts over time
decide the outcome. Won leads keep generating activity after they close (a leakage trap),
sales-side activities (meetings, calls) follow the outcome, and leads that close after
``now`` are still open in the export. Everything is deterministic by seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.timeutil import to_epoch_seconds

log = logging.getLogger(__name__)

DEFAULT_NOW = pd.Timestamp("2026-06-30", tz="UTC")
HISTORY_DAYS = 730
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class World:
    """The export as the CRM shows it at ``now`` plus, for evaluation, the truth."""

    leads: pd.DataFrame
    activities: pd.DataFrame
    truth: pd.DataFrame  # lead_id, outcome, closed_at for every lead, also those open at now
    now: pd.Timestamp


# (spelling variants, weight, fit effect)
INDUSTRIES = {
    "software": (["Software", "software", "SOFTWARE", " Software "], 0.18, 0.45),
    "manufacturing": (["Manufacturing", "manufacturing", "Manufacturing "], 0.16, 0.2),
    "financial services": (
        ["Financial Services", "financial services", "Financial_Services"],
        0.1,
        0.3,
    ),
    "retail": (["Retail", "retail", "RETAIL"], 0.1, -0.25),
    "healthcare": (["Healthcare", "healthcare", "Health Care"], 0.08, 0.0),
    "education": (["Education", "education"], 0.07, -0.6),
    "logistics": (["Logistics", "logistics", "Logistics "], 0.09, 0.1),
    "public sector": (["Public Sector", "public sector"], 0.05, -0.5),
    "consulting": (["Consulting", "consulting", "CONSULTING"], 0.1, 0.15),
    "media": (["Media", "media"], 0.07, -0.1),
}
COUNTRIES = {
    "DE": (["DE", "de", "Germany", "Deutschland", "DE "], 0.36, 0.2),
    "AT": (["AT", "at", "Austria", "Österreich"], 0.1, 0.2),
    "CH": (["CH", "ch", "Switzerland", "Schweiz"], 0.1, 0.25),
    "US": (["US", "us", "USA", "United States"], 0.14, -0.1),
    "GB": (["GB", "UK", "United Kingdom"], 0.1, 0.0),
    "FR": (["FR", "France"], 0.05, -0.2),
    "NL": (["NL", "Netherlands"], 0.06, 0.05),
    "PL": (["PL", "Poland"], 0.04, -0.3),
    "ES": (["ES", "Spain"], 0.03, -0.3),
    "SE": (["SE", "Sweden"], 0.02, 0.0),
}
SOURCES = {
    "organic search": (
        ["Organic Search", "organic search", "organic_search", "ORGANIC SEARCH"],
        0.22,
        0.15,
    ),
    "paid search": (["Paid Search", "paid search", "Paid_Search", "paid search "], 0.18, -0.05),
    "referral": (["Referral", "referral", "REFERRAL"], 0.07, 0.8),
    "webinar": (["Webinar", "webinar"], 0.08, 0.35),
    "trade show": (["Trade Show", "trade show", "Tradeshow"], 0.07, 0.3),
    "linkedin": (["LinkedIn", "linkedin", "Linkedin"], 0.12, 0.0),
    "partner": (["Partner", "partner"], 0.05, 0.5),
    "content syndication": (["Content Syndication", "content syndication"], 0.09, -0.55),
    "cold outreach": (["Cold Outreach", "cold outreach", "Outbound"], 0.08, -0.7),
    "direct": (["Direct", "direct", "Website"], 0.04, 0.2),
}
SENIORITY_EFFECT = {
    "c_level": 0.25,
    "vp": 0.5,
    "head_director": 0.6,
    "manager": 0.3,
    "individual_contributor": -0.15,
    "student_intern": -1.3,
    "unknown": -0.3,
}
SENIORITY_WEIGHT = {
    "c_level": 0.07,
    "vp": 0.05,
    "head_director": 0.14,
    "manager": 0.24,
    "individual_contributor": 0.34,
    "student_intern": 0.08,
    "unknown": 0.08,
}
FUNCTION_EFFECT = {
    "marketing": 0.45,
    "sales": 0.2,
    "it": 0.05,
    "operations": -0.1,
    "finance": -0.25,
    "other": -0.3,
}
FUNCTION_WEIGHT = {
    "marketing": 0.34,
    "sales": 0.2,
    "it": 0.16,
    "operations": 0.1,
    "finance": 0.08,
    "other": 0.12,
}

# Job titles by (seniority, function): English and German, as people type them.
TITLES: dict[tuple[str, str], list[str]] = {
    ("c_level", "marketing"): ["CMO", "Chief Marketing Officer"],
    ("c_level", "sales"): ["Chief Revenue Officer", "CRO", "Chief Sales Officer"],
    ("c_level", "it"): ["CTO", "CIO", "Chief Technology Officer"],
    ("c_level", "finance"): ["CFO", "Chief Financial Officer", "Vorstand Finanzen"],
    ("c_level", "operations"): ["COO", "Chief Operating Officer"],
    ("c_level", "other"): [
        "CEO",
        "Geschäftsführer",
        "Geschäftsführerin",
        "Geschaeftsfuehrer",
        "Founder",
        "Co-Founder & CEO",
        "Inhaber",
        "Managing Director",
    ],
    ("vp", "marketing"): ["VP Marketing", "Vice President Marketing", "VP of Demand Generation"],
    ("vp", "sales"): ["VP Sales", "VP Vertrieb", "Vice President Sales EMEA"],
    ("vp", "it"): ["VP Engineering", "VP IT", "Vice President Technology"],
    ("vp", "finance"): ["VP Finance"],
    ("vp", "operations"): ["VP Operations", "Vice President Supply Chain"],
    ("vp", "other"): ["VP People", "Vice President HR"],
    ("head_director", "marketing"): [
        "Head of Marketing",
        "Marketing Director",
        "Leiter Marketing",
        "Marketingleiterin",
        "Head of Marketing DACH",
    ],
    ("head_director", "sales"): [
        "Head of Sales",
        "Sales Director",
        "Leiter Vertrieb",
        "Vertriebsleiter",
        "Vertriebsleiterin",
    ],
    ("head_director", "it"): ["Head of IT", "IT Director", "IT-Leiter", "Leiterin IT"],
    ("head_director", "finance"): ["Finance Director", "Leiter Finanzen", "Head of Controlling"],
    ("head_director", "operations"): [
        "Head of Operations",
        "Bereichsleiter Logistik",
        "Director Operations",
        "Leiterin Produktion",
    ],
    ("head_director", "other"): ["Head of HR", "Abteilungsleiterin Personal", "Director People"],
    ("manager", "marketing"): [
        "Marketing Manager",
        "Senior Marketing Manager",
        "Marketing Managerin",
        "Online Marketing Manager",
        "Campaign Manager",
    ],
    ("manager", "sales"): ["Sales Manager", "Teamleiter Vertrieb", "Key Account Manager"],
    ("manager", "it"): ["IT Manager", "Gruppenleiter IT", "Engineering Manager"],
    ("manager", "finance"): ["Finance Manager", "Teamleiterin Buchhaltung"],
    ("manager", "operations"): ["Operations Manager", "Einkaufsmanager", "Logistics Manager"],
    ("manager", "other"): ["HR Manager", "Office Manager", "Project Manager"],
    ("individual_contributor", "marketing"): [
        "Marketing Specialist",
        "Referentin Marketing",
        "Content Writer",
        "SEO Specialist",
        "Marketing Coordinator",
    ],
    ("individual_contributor", "sales"): [
        "Account Executive",
        "Vertriebsmitarbeiter",
        "Sales Representative",
        "Business Development Rep",
    ],
    ("individual_contributor", "it"): [
        "Software Engineer",
        "Softwareentwickler",
        "Entwicklerin",
        "Data Analyst",
        "System Administrator",
    ],
    ("individual_contributor", "finance"): [
        "Accountant",
        "Controller",
        "Sachbearbeiter Buchhaltung",
        "Financial Analyst",
    ],
    ("individual_contributor", "operations"): [
        "Logistics Coordinator",
        "Mitarbeiter Logistik",
        "Einkäufer",
        "Production Planner",
    ],
    ("individual_contributor", "other"): [
        "Personalreferentin",
        "Assistant",
        "Consultant",
        "Berater",
        "Architect",
    ],
    ("student_intern", "marketing"): [
        "Marketing Intern",
        "Werkstudentin Marketing",
        "Praktikant Marketing",
    ],
    ("student_intern", "sales"): ["Working Student Sales", "Praktikantin Vertrieb"],
    ("student_intern", "it"): ["Werkstudent IT", "IT Intern"],
    ("student_intern", "finance"): ["Praktikant Controlling", "Finance Intern"],
    ("student_intern", "operations"): ["Auszubildender Logistik", "Operations Intern"],
    ("student_intern", "other"): ["Werkstudent", "Student", "Intern", "Praktikantin"],
}
SIZE_BANDS = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5000+"]
FREE_MAIL = ["gmail.com", "gmx.de", "web.de", "outlook.com", "yahoo.com", "t-online.de"]
FIRST = [
    "anna",
    "lukas",
    "marie",
    "jonas",
    "laura",
    "felix",
    "sophie",
    "paul",
    "emma",
    "leon",
    "james",
    "olivia",
    "noah",
    "mia",
    "elias",
    "lea",
]
LAST = [
    "mueller",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "smith",
    "jones",
    "brown",
    "huber",
    "gruber",
    "keller",
    "martin",
    "bernard",
]
COMPANY = [
    "acme",
    "nordlicht",
    "alpenwerk",
    "datawave",
    "brightpath",
    "rheinsoft",
    "bluepeak",
    "hansetec",
    "lumenis",
    "kraftwerk-it",
    "urbanlog",
    "medicon",
    "finovo",
    "edutrail",
]
TLD = {
    "DE": "de",
    "AT": "at",
    "CH": "ch",
    "US": "com",
    "GB": "co.uk",
    "FR": "fr",
    "NL": "nl",
    "PL": "pl",
    "ES": "es",
    "SE": "se",
}


def _choose(
    rng: np.random.Generator, table: dict, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick canonical keys by weight; return (keys, messy spellings, fit effects)."""
    keys = list(table)
    weights = np.array([table[k][1] for k in keys], dtype=float)
    idx = rng.choice(len(keys), size=n, p=weights / weights.sum())
    spellings = np.array(
        [table[keys[i]][0][rng.integers(len(table[keys[i]][0]))] for i in idx], dtype=object
    )
    effects = np.array([table[keys[i]][2] for i in idx], dtype=float)
    return np.array(keys, dtype=object)[idx], spellings, effects


def _messy_case(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    out = values.copy()
    for i in np.flatnonzero(rng.random(len(values)) < share):
        style = rng.integers(4)
        text = str(out[i])
        out[i] = (text.lower(), text.upper(), f" {text} ", text.title())[style]
    return out


def _linear_positions(rng: np.random.Generator, slope: np.ndarray) -> np.ndarray:
    """Draw s in [0, 1) with density proportional to 1 + slope * s (slope > -1)."""
    u = rng.random(len(slope))
    s = np.empty(len(slope))
    flat = np.abs(slope) < 1e-9
    s[flat] = u[flat]
    b = slope[~flat]
    # CDF: (s + b s^2 / 2) / (1 + b / 2) = u  ->  solve the quadratic for s
    total = 1 + b / 2
    s[~flat] = (-1 + np.sqrt(1 + 2 * b * u[~flat] * total)) / b
    return np.clip(s, 0.0, 1.0 - 1e-9)


def generate(
    n_leads: int = 3000,
    seed: int = 42,
    now: pd.Timestamp = DEFAULT_NOW,
    win_cycle_scale: float = 1.0,
) -> World:
    """Generate a CRM world. Deterministic for a given (n_leads, seed, now): the stages below
    draw from one random generator, always in the same order."""
    if n_leads < 1:
        raise ValueError("n_leads must be at least 1")
    rng = np.random.default_rng(seed)
    now = pd.Timestamp(now)
    now = now.tz_convert("UTC") if now.tzinfo else now.tz_localize("UTC")
    created, t_frac = _arrivals(rng, n_leads, now.normalize() - HISTORY_DAYS * DAY)
    who = _who(rng, n_leads)
    deal = _deal(rng, who, t_frac, win_cycle_scale)
    life = _Life(rng, deal, to_epoch_seconds(pd.Series(created)))
    for channel in (_web_visits, _emails, _events_and_requests, _sales_side, _after_the_deal):
        channel(life)
    return _export(rng, seed, now, created, who, deal, life.events)


def _arrivals(
    rng: np.random.Generator, n: int, start: pd.Timestamp
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Creation times (inflow grows ~60% over the period, fewer leads at weekends, office
    hours) and each lead's position in the history (0..1)."""
    days = np.arange(HISTORY_DAYS)
    weekday = (start + pd.to_timedelta(days, unit="D")).day_of_week
    weights = (1 + 0.6 * days / HISTORY_DAYS) * np.where(weekday >= 5, 0.3, 1.0)
    day_of_creation = np.sort(rng.choice(days, size=n, p=weights / weights.sum()))
    hours = np.clip(rng.normal(12.5, 3.0, n), 0.0, 23.99)
    created = (
        start
        + pd.to_timedelta(day_of_creation, unit="D")
        + pd.to_timedelta(np.round(hours * 3600), unit="s")
    )
    return created, day_of_creation / HISTORY_DAYS


@dataclass
class _Who:
    """Who the leads are: attributes as the CRM shows them, and the hidden fit they imply."""

    industry: np.ndarray
    country: np.ndarray
    source: np.ndarray
    titles: np.ndarray
    size_text: np.ndarray
    email: np.ndarray
    seniority: np.ndarray
    fit: np.ndarray  # standardised


def _who(rng: np.random.Generator, n: int) -> _Who:
    industry_key, industry, industry_fx = _choose(rng, INDUSTRIES, n)
    country_key, country, country_fx = _choose(rng, COUNTRIES, n)
    _, source, source_fx = _choose(rng, SOURCES, n)
    industry[rng.random(n) < 0.05] = ""
    country[rng.random(n) < 0.04] = ""

    sen_keys = list(SENIORITY_WEIGHT)
    sen_w = np.array([SENIORITY_WEIGHT[k] for k in sen_keys])
    seniority = np.array(sen_keys, dtype=object)[
        rng.choice(len(sen_keys), n, p=sen_w / sen_w.sum())
    ]
    fun_keys = list(FUNCTION_WEIGHT)
    fun_w = np.array([FUNCTION_WEIGHT[k] for k in fun_keys])
    function = np.array(fun_keys, dtype=object)[rng.choice(len(fun_keys), n, p=fun_w / fun_w.sum())]
    titles = np.empty(n, dtype=object)
    for i in range(n):
        if seniority[i] == "unknown":
            titles[i] = ""
            continue
        options = TITLES[(seniority[i], function[i])]
        titles[i] = options[rng.integers(len(options))]
    titles = _messy_case(rng, titles, 0.15)
    seniority_fx = np.array([SENIORITY_EFFECT[s] for s in seniority])
    function_fx = np.where(seniority == "unknown", -0.2, [FUNCTION_EFFECT[f] for f in function])

    size = np.clip(np.round(np.exp(rng.normal(np.log(120), 1.6, n))), 1, 200_000)
    log_size = np.log10(size)
    size_fx = 0.5 - 0.45 * (log_size - 2.6) ** 2
    size_unknown = rng.random(n) < 0.15
    size_fx = np.where(size_unknown, -0.25, size_fx)
    size_text = size.astype(int).astype(str).astype(object)
    banded = rng.random(n) < 0.1
    edges = np.array([10, 50, 200, 500, 1000, 5000])
    size_text[banded] = np.array(SIZE_BANDS, dtype=object)[np.searchsorted(edges, size[banded])]
    size_text[size_unknown] = ""

    free_mail = rng.random(n) < np.where(seniority == "student_intern", 0.6, 0.15)
    first = np.array(FIRST, dtype=object)[rng.integers(len(FIRST), size=n)]
    last = np.array(LAST, dtype=object)[rng.integers(len(LAST), size=n)]
    company = np.array(COMPANY, dtype=object)[rng.integers(len(COMPANY), size=n)]
    tld = np.array([TLD.get(str(c), "com") for c in country_key], dtype=object)
    free_domain = np.array(FREE_MAIL, dtype=object)[rng.integers(len(FREE_MAIL), size=n)]
    email = np.where(
        free_mail,
        first + "." + last + rng.integers(1, 99, n).astype(str).astype(object) + "@" + free_domain,
        first + "." + last + "@" + company + "." + tld,
    )
    email[rng.random(n) < 0.03] = ""
    email_fx = np.where(free_mail, -0.45, 0.1)

    # Buying power is an interaction: decision makers in the functions the product is for.
    decision_maker = np.isin(seniority, ["c_level", "vp", "head_director"])
    buyer = decision_maker & np.isin(function, ["marketing", "sales"])
    sweet_spot = (size >= 50) & (size <= 2000) & ~size_unknown
    interaction = (
        1.2 * buyer
        - 0.6 * (decision_maker & np.isin(function, ["finance", "other"]))
        + 0.8
        * (sweet_spot & np.isin(industry_key, ["software", "financial services", "consulting"]))
        - 0.8 * ((size < 20) & ~size_unknown & np.isin(industry_key, ["retail", "education"]))
    )
    fit = industry_fx + country_fx + source_fx + seniority_fx + function_fx + size_fx + email_fx
    fit = fit + interaction
    fit = (fit - fit.mean()) / (fit.std() + 1e-9)
    return _Who(industry, country, source, titles, size_text, email, seniority, fit)


@dataclass
class _Deal:
    """How each lead's deal goes: its hidden interest and browsing habit, whether it is won
    and how long its sales cycle takes (days)."""

    interest: np.ndarray
    browsing: np.ndarray
    crawler: np.ndarray
    won: np.ndarray
    cycle_days: np.ndarray


def _deal(rng: np.random.Generator, who: _Who, t_frac: np.ndarray, win_cycle_scale: float) -> _Deal:
    n, fit = len(who.fit), who.fit
    interest = 0.4 * fit + rng.normal(0.0, 0.9, n)
    # How much someone browses regardless of intent: noise the model has to see through.
    # Students research a lot and never buy; some "leads" are crawlers or shared office
    # connections that open dozens of pages for a few seconds each.
    browsing = rng.normal(0.0, 0.6, n) + 1.0 * (who.seniority == "student_intern")
    crawler = rng.random(n) < 0.04
    browsing = browsing + 2.3 * crawler

    # The base rate drifts: it climbs slowly over the period. Interest pays off only above a
    # threshold and then saturates, as buying intent does.
    base = -4.2 + 0.4 * t_frac
    # Fit and intent multiply (the classic fit x engagement grid): engagement from a lead
    # that does not fit rarely turns into a deal.
    intent = 2.2 * np.tanh(np.maximum(interest + 0.3, 0.0))
    payoff = 1 / (1 + np.exp(-4.0 * (fit + 0.2)))
    luck = rng.normal(0.0, 1.3, n)  # budget, timing, competitors: nothing the CRM sees
    p_won = 1 / (1 + np.exp(-(base + 0.4 * fit + 2.5 * intent * payoff + luck)))
    won = rng.random(n) < p_won

    # Sales cycle: wins take weeks; losses are either quick disqualifications or slow fades.
    cycle_won = (7 + rng.gamma(3.0, 15.0, n)) * win_cycle_scale  # > 1: wins take longer
    quick = rng.random(n) < 0.4
    cycle_lost = np.where(quick, 1 + rng.exponential(8.0, n), 5 + rng.gamma(2.0, 35.0, n))
    return _Deal(interest, browsing, crawler, won, np.where(won, cycle_won, cycle_lost))


class _Life:
    """What the activity channels draw from (one generator, channel after channel) and the
    events they emit: lead index, epoch seconds, activity type, value."""

    def __init__(self, rng: np.random.Generator, deal: _Deal, created_sec: np.ndarray) -> None:
        self.rng, self.deal, self.created_sec = rng, deal, created_sec
        self.n = len(deal.won)
        self.life_sec = deal.cycle_days * 86400.0
        self.events: list[pd.DataFrame] = []
        # Lost leads usually go quiet some time before sales gives up on them.
        self.active = np.where(deal.won, 1.0, rng.beta(3.0, 2.0, self.n))
        self.ramp = np.where(deal.won, 1.5, -0.4)  # won leads heat up, lost ones fade

    def emit(
        self, lead_idx: np.ndarray, times: np.ndarray, kind: str, value: np.ndarray | None = None
    ) -> None:
        self.events.append(
            pd.DataFrame(
                {
                    "lead": lead_idx,
                    "t": times,
                    "activity_type": kind,
                    "value": np.nan if value is None else value,
                }
            )
        )

    def over_life(
        self,
        rate_per_day: np.ndarray,
        slope: np.ndarray,
        kind: str,
        value_median: float | None = None,
    ) -> None:
        """Events at a rate over the lead's active life, denser towards its end for slope > 0."""
        rng, deal = self.rng, self.deal
        counts = rng.poisson(rate_per_day * deal.cycle_days * self.active * (1 + slope / 2))
        idx = np.repeat(np.arange(self.n), counts)
        s = _linear_positions(rng, np.repeat(slope, counts))
        times = self.created_sec[idx] + s * self.active[idx] * self.life_sec[idx]
        value = None
        if value_median is not None:
            median = np.where(deal.crawler[idx], 3.0, value_median)
            value = np.round(np.exp(rng.normal(np.log(median) + 0.25 * deal.interest[idx], 0.8)))
        self.emit(idx, times, kind, value)

    def at_share_of_life(self, low: float, high: float) -> np.ndarray:
        """One time per lead, uniformly between these shares of its life."""
        return self.created_sec + self.rng.uniform(low, high, self.n) * self.life_sec


def _web_visits(life: _Life) -> None:
    """Website visits come in sessions: how often a lead comes back reflects interest, how
    many pages it clicks per visit reflects browsing habits (crawlers click dozens)."""
    rng, deal, n = life.rng, life.deal, life.n
    created_sec, life_sec, active = life.created_sec, life.life_sec, life.active
    interest, ramp = deal.interest, life.ramp
    sessions = rng.poisson(
        0.035 * np.exp(0.9 * interest) * deal.cycle_days * active * (1 + ramp / 2)
    )
    lead_of = np.repeat(np.arange(n), sessions)
    s = _linear_positions(rng, np.repeat(ramp, sessions))
    session_t = created_sec[lead_of] + s * active[lead_of] * life_sec[lead_of]
    views = 1 + rng.poisson(np.exp(0.2 + deal.browsing[lead_of]))
    view_lead = np.repeat(lead_of, views)
    view_session = np.repeat(np.arange(len(lead_of)), views)
    within = np.arange(views.sum()) - np.repeat(np.cumsum(views) - views, views)
    view_t = session_t[view_session] + within * rng.exponential(60.0, views.sum())
    dwell = np.where(deal.crawler[view_lead], 3.0, 45.0)
    life.emit(
        view_lead,
        view_t,
        "page_view",
        np.round(np.exp(rng.normal(np.log(dwell) + 0.25 * interest[view_lead], 0.8))),
    )
    p_pricing = 1 / (1 + np.exp(-(-1.6 + 0.9 * interest[lead_of] + 0.8 * deal.won[lead_of] * s)))
    priced = rng.random(len(lead_of)) < p_pricing
    life.emit(
        lead_of[priced],
        session_t[priced] + rng.uniform(30, 600, priced.sum()),
        "pricing_page_view",
        np.round(np.exp(rng.normal(np.log(70.0), 0.8, priced.sum()))),
    )
    life.over_life(0.015 * np.exp(0.4 * interest), np.zeros(n), "content_download")
    life.over_life(0.008 * np.exp(0.5 * interest), ramp / 2, "form_submit")
    life.over_life(0.01 * np.ones(n), np.zeros(n), "ad_click")


def _emails(life: _Life) -> None:
    """Nurture e-mails every ~7 days; opens and clicks follow interest."""
    rng, deal, n, created_sec = life.rng, life.deal, life.n, life.created_sec
    n_sent = np.floor(deal.cycle_days / 7).astype(int)
    idx = np.repeat(np.arange(n), n_sent)
    k = np.concatenate([np.arange(c) for c in n_sent]) if len(idx) else np.zeros(0)
    sent_t = created_sec[idx] + (1 + 7 * k + rng.normal(0, 0.5, len(idx)).clip(-0.9, 0.9)) * 86400
    life.emit(idx, sent_t, "email_sent")
    still_active = sent_t < created_sec[idx] + life.active[idx] * life.life_sec[idx]
    p_open = np.where(still_active, 1.0, 0.2) / (1 + np.exp(-(-0.9 + 0.9 * deal.interest[idx])))
    opened = rng.random(len(idx)) < p_open
    open_t = sent_t[opened] + rng.exponential(0.6, opened.sum()) * 86400
    life.emit(idx[opened], open_t, "email_open")
    p_click = 1 / (1 + np.exp(-(-1.6 + 0.7 * deal.interest[idx[opened]])))
    clicked = rng.random(opened.sum()) < p_click
    life.emit(
        idx[opened][clicked], open_t[clicked] + rng.exponential(600, clicked.sum()), "email_click"
    )


def _events_and_requests(life: _Life) -> None:
    """Newsletter sign-ups and webinars; high-intent requests, far more common on the way to
    a win."""
    rng, deal, n, created_sec = life.rng, life.deal, life.n, life.created_sec
    interest, won = deal.interest, deal.won
    newsletter = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 0.4 * interest)))
    life.emit(
        np.flatnonzero(newsletter),
        created_sec[newsletter] + rng.uniform(0, 3, newsletter.sum()) * 86400,
        "newsletter_signup",
    )
    reg = rng.random(n) < 1 / (1 + np.exp(-(-2.2 + 0.7 * interest + 0.4 * won)))
    reg_t = life.at_share_of_life(0.05, 0.7)
    life.emit(np.flatnonzero(reg), reg_t[reg], "webinar_registered")
    attended = reg & (rng.random(n) < np.where(won, 0.7, 0.4))
    life.emit(
        np.flatnonzero(attended),
        reg_t[attended] + rng.uniform(1, 10, attended.sum()) * 86400,
        "webinar_attended",
    )
    demo = rng.random(n) < np.minimum(0.9, 0.1 * np.exp(0.6 * interest) + 0.15 * won)
    demo_t = life.at_share_of_life(0.25, 0.85)
    life.emit(np.flatnonzero(demo), demo_t[demo], "demo_request")
    trial = rng.random(n) < np.minimum(0.9, 0.04 * np.exp(0.6 * interest) + 0.1 * won)
    trial_t = life.at_share_of_life(0.45, 0.92)
    life.emit(np.flatnonzero(trial), trial_t[trial], "trial_signup")


def _sales_side(life: _Life) -> None:
    """Sales-side activities follow what sales already decided (kept out of the model)."""
    rng, won, n = life.rng, life.deal.won, life.n
    created_sec, life_sec = life.created_sec, life.life_sec
    meetings = rng.poisson(np.where(won, 2.5, 0.3))
    idx = np.repeat(np.arange(n), meetings)
    life.emit(idx, created_sec[idx] + rng.uniform(0.4, 0.98, len(idx)) * life_sec[idx], "meeting")
    calls = rng.poisson(np.where(won, 3.0, 1.0))
    idx = np.repeat(np.arange(n), calls)
    life.emit(
        idx, created_sec[idx] + rng.uniform(0.1, 0.98, len(idx)) * life_sec[idx], "sales_call"
    )


def _after_the_deal(life: _Life) -> None:
    """After a win the customer keeps using the product (the leakage trap); ad clicks
    shortly before a lead was created (the contract drops these)."""
    rng, won, n = life.rng, life.deal.won, life.n
    created_sec, life_sec = life.created_sec, life.life_sec
    post = rng.poisson(np.where(won, 10, 0))
    idx = np.repeat(np.arange(n), post)
    life.emit(
        idx,
        created_sec[idx] + life_sec[idx] + rng.uniform(0, 90, len(idx)) * 86400,
        "page_view",
        np.round(rng.exponential(120, len(idx))),
    )
    post_mail = rng.poisson(np.where(won, 4, 0))
    idx = np.repeat(np.arange(n), post_mail)
    life.emit(
        idx, created_sec[idx] + life_sec[idx] + rng.uniform(0, 60, len(idx)) * 86400, "email_open"
    )
    pre = rng.random(n) < 0.05
    life.emit(
        np.flatnonzero(pre), created_sec[pre] - rng.uniform(0.5, 10, pre.sum()) * 86400, "ad_click"
    )


def _export(
    rng: np.random.Generator,
    seed: int,
    now: pd.Timestamp,
    created: pd.DatetimeIndex,
    who: _Who,
    deal: _Deal,
    events: list[pd.DataFrame],
) -> World:
    """The export as the CRM shows it at ``now`` (what happened later cut off, a few
    duplicated and orphaned activity rows, messy spellings) and the truth beside it."""
    n = len(deal.won)
    closed = created + pd.to_timedelta(np.round(deal.cycle_days * 86400), unit="s")
    lead_ids = np.array([f"L{seed % 1000:03d}-{i:06d}" for i in range(n)], dtype=object)
    acts = pd.concat(events, ignore_index=True)
    now_sec = float(to_epoch_seconds(pd.Series([now]))[0])
    acts = acts[acts["t"] < now_sec]
    # A few duplicated rows, as exports have.
    dup = acts.sample(frac=0.005, random_state=seed)
    acts = pd.concat([acts, dup], ignore_index=True)
    acts = acts.sort_values(["t", "lead"], kind="stable").reset_index(drop=True)
    occurred = pd.to_datetime(np.round(acts["t"].to_numpy()).astype("int64"), unit="s", utc=True)
    activity_type = _messy_case(rng, acts["activity_type"].to_numpy(dtype=object), 0.03)
    activities = pd.DataFrame(
        {
            schema.LEAD_ID: lead_ids[acts["lead"].to_numpy()],
            schema.OCCURRED_AT: occurred,
            schema.ACTIVITY_TYPE: activity_type,
            schema.VALUE: acts["value"].to_numpy(),
        }
    )
    # A handful of activities of leads the export does not contain.
    orphans = max(1, n // 1000)
    activities = pd.concat(
        [
            activities,
            pd.DataFrame(
                {
                    schema.LEAD_ID: [f"X{seed % 1000:03d}-{i:06d}" for i in range(orphans)],
                    schema.OCCURRED_AT: occurred[:orphans]
                    if len(occurred) >= orphans
                    else [now - DAY] * orphans,
                    schema.ACTIVITY_TYPE: "page_view",
                    schema.VALUE: 30.0,
                }
            ),
        ],
        ignore_index=True,
    )

    is_closed = closed < now
    outcome_true = np.where(deal.won, schema.WON, schema.LOST)
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: lead_ids,
            schema.CREATED_AT: created,
            schema.OUTCOME: np.where(is_closed, outcome_true, ""),
            schema.CLOSED_AT: pd.Series(closed).where(is_closed).to_numpy(),
            schema.LEAD_SOURCE: _messy_case(rng, who.source, 0.05),
            schema.INDUSTRY: who.industry,
            schema.COMPANY_SIZE: who.size_text,
            schema.COUNTRY: who.country,
            schema.JOB_TITLE: who.titles,
            schema.EMAIL: who.email,
        }
    )
    truth = pd.DataFrame(
        {schema.LEAD_ID: lead_ids, schema.OUTCOME: outcome_true, schema.CLOSED_AT: closed}
    )
    return World(leads=leads, activities=activities, truth=truth, now=now)


def _iso(values: pd.Series) -> pd.Series:
    text = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text.where(values.notna(), "")


def write_world(world: World, out_dir: Path, with_truth: bool = False) -> list[Path]:
    """Write leads.csv and activities.csv (and truth.csv) in the contract's format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    leads = world.leads.copy()
    for column in (schema.CREATED_AT, schema.CLOSED_AT):
        leads[column] = _iso(pd.to_datetime(leads[column], utc=True))
    activities = world.activities.copy()
    activities[schema.OCCURRED_AT] = _iso(activities[schema.OCCURRED_AT])
    written = []
    for name, frame in (("leads.csv", leads), ("activities.csv", activities)):
        path = out_dir / name
        frame.to_csv(path, index=False)
        written.append(path)
    if with_truth:
        truth = world.truth.copy()
        truth[schema.CLOSED_AT] = _iso(pd.to_datetime(truth[schema.CLOSED_AT], utc=True))
        path = out_dir / "truth.csv"
        truth.to_csv(path, index=False)
        written.append(path)
    return written
