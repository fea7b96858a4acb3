"""Normalising messy CRM text: categories, job titles (English and German), e-mail domains."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.schema import map_distinct

MISSING = "unknown"
OTHER = "other"

# Values CRMs write for "not answered". Compared after normalisation.
PLACEHOLDERS = frozenset(
    {
        "",
        "-",
        "--",
        "---",
        "n/a",
        "na",
        "n.a.",
        "none",
        "null",
        "nan",
        "nil",
        "unknown",
        "unbekannt",
        "k.a.",
        "keine angabe",
        "select",
        "-- select --",
        "please select",
        "bitte wählen",
        "not specified",
        "other/unknown",
        "?",
    }
)

_SPACES = re.compile(r"[\s_]+")


def normalise_category(values: pd.Series, synonyms: dict[str, str] | None = None) -> pd.Series:
    """Case, whitespace and underscores folded (``" Paid_Search "`` -> ``"paid search"``),
    known synonyms merged (``"Deutschland"`` -> ``"de"`` with the country table), and
    placeholders for "not answered" made missing. Works on the distinct values only."""

    def fold(text: pd.Series) -> pd.Series:
        text = text.str.strip().str.lower().str.replace(_SPACES, " ", regex=True).str.strip()
        text = text.mask(text.isin(PLACEHOLDERS))
        if synonyms:
            text = text.map(lambda v: synonyms.get(v, v) if isinstance(v, str) else v)
        return text

    return pd.Series(map_distinct(values, fold), index=values.index, dtype="string")


def _table(groups: dict[str, list[str]]) -> dict[str, str]:
    return {variant: canonical for canonical, variants in groups.items() for variant in variants}


# Country spellings (English, German, ISO 3166 alpha-2/alpha-3) -> alpha-2, lower case.
COUNTRY_SYNONYMS = _table(
    {
        "de": ["de", "deu", "germany", "deutschland", "federal republic of germany", "ger"],
        "at": ["at", "aut", "austria", "österreich", "oesterreich"],
        "ch": ["ch", "che", "switzerland", "schweiz", "suisse", "svizzera"],
        "us": ["us", "usa", "united states", "united states of america", "u.s.", "u.s.a.",
               "vereinigte staaten", "america"],
        "gb": ["gb", "gbr", "uk", "united kingdom", "great britain", "england", "scotland",
               "wales", "großbritannien", "grossbritannien", "vereinigtes königreich"],
        "fr": ["fr", "fra", "france", "frankreich"],
        "nl": ["nl", "nld", "netherlands", "the netherlands", "holland", "niederlande"],
        "be": ["be", "bel", "belgium", "belgien"],
        "lu": ["lu", "lux", "luxembourg", "luxemburg"],
        "it": ["it", "ita", "italy", "italien", "italia"],
        "es": ["es", "esp", "spain", "spanien", "españa"],
        "pt": ["pt", "prt", "portugal"],
        "pl": ["pl", "pol", "poland", "polen", "polska"],
        "cz": ["cz", "cze", "czechia", "czech republic", "tschechien"],
        "se": ["se", "swe", "sweden", "schweden"],
        "no": ["no", "nor", "norway", "norwegen"],
        "dk": ["dk", "dnk", "denmark", "dänemark", "daenemark"],
        "fi": ["fi", "fin", "finland", "finnland"],
        "ie": ["ie", "irl", "ireland", "irland"],
        "ca": ["ca", "can", "canada", "kanada"],
        "au": ["au", "aus", "australia", "australien"],
        "in": ["in", "ind", "india", "indien"],
        "cn": ["cn", "chn", "china"],
        "jp": ["jp", "jpn", "japan"],
        "br": ["br", "bra", "brazil", "brasilien"],
        "tr": ["tr", "tur", "turkey", "türkei", "tuerkei", "türkiye"],
    }
)  # fmt: skip
SOURCE_SYNONYMS = _table(
    {
        "paid search": ["paid search", "google ads", "adwords", "ppc", "sem", "bing ads", "cpc"],
        "organic search": ["organic search", "organic", "seo", "google organic"],
        "trade show": ["trade show", "tradeshow", "trade fair", "messe", "exhibition", "event"],
        "referral": ["referral", "referrals", "empfehlung", "word of mouth"],
        "direct": ["direct", "direct traffic", "website", "web site", "homepage"],
        "cold outreach": ["cold outreach", "outbound", "cold call", "cold calling", "kaltakquise"],
        "social": ["social", "social media", "facebook", "twitter"],
        "linkedin": ["linkedin", "linked in"],
        "email": ["email", "e-mail", "email marketing", "newsletter"],
    }
)  # fmt: skip
INDUSTRY_SYNONYMS = _table(
    {
        "healthcare": ["healthcare", "health care", "health", "gesundheitswesen", "medical"],
        "software": ["software", "saas", "software & services", "softwareentwicklung"],
        "financial services": ["financial services", "finance", "banking", "finanzdienstleistungen",
                               "banken", "insurance", "versicherungen"],
        "manufacturing": ["manufacturing", "industrie", "produktion", "maschinenbau"],
        "retail": ["retail", "einzelhandel", "e-commerce", "ecommerce", "handel"],
        "education": ["education", "bildung", "higher education"],
        "public sector": ["public sector", "government", "öffentlicher sektor", "behörde"],
        "logistics": ["logistics", "logistik", "transportation", "transport"],
        "consulting": ["consulting", "beratung", "unternehmensberatung"],
    }
)  # fmt: skip
SYNONYMS: dict[str, dict[str, str]] = {
    "country": COUNTRY_SYNONYMS,
    "lead_source": SOURCE_SYNONYMS,
    "industry": INDUSTRY_SYNONYMS,
}

SIZE_BANDS = ((10, "1-9"), (50, "10-49"), (250, "50-249"), (1000, "250-999"), (5000, "1000-4999"))


def company_size_band(sizes: pd.Series) -> pd.Series:
    """EU-style bands: 1-9, 10-49, 50-249, 250-999, 1000-4999, 5000+; unknown when missing."""
    values = sizes.to_numpy(dtype="float64")
    edges = np.array([edge for edge, _ in SIZE_BANDS], dtype="float64")
    labels = np.array([label for _, label in SIZE_BANDS] + ["5000+"], dtype=object)
    out = labels[np.searchsorted(edges, np.nan_to_num(values, nan=0.0), side="right")]
    out[np.isnan(values)] = MISSING
    return pd.Series(out, index=sizes.index, dtype="string")


def _fold(text: str) -> str:
    """Lower-case, umlauts spelled out (ä -> ae, ß -> ss), other accents dropped."""
    text = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _rules(pairs: Iterable[tuple[str, str]]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern), label) for pattern, label in pairs]


# Order matters: the first rule that matches wins. Patterns run on folded text (umlauts
# spelled out: "geschaeftsfuehrer"); "(ae|a)" also accepts exports that dropped the dots.
SENIORITY_RULES = _rules(
    [
        (
            r"werkstudent|\bstudent|praktikant|\bintern\b|internship|\btrainee|\bazubi|"
            r"auszubildende|apprentice|\bwerkstudi",
            "student_intern",
        ),
        (r"\bvp\b|\bsvp\b|\bevp\b|vice president|vizepr(ae|a)sident", "vp"),
        (
            r"\bc[a-z]?o\b|\bchief\b|gesch(ae|a)ftsf(ue|u)hr|gesch(ae|a)ftsleitung|\bvorstand|"
            r"\bfounder|\bco-?founder|gr(ue|u)nder|\bowner\b|\binhaber|\bpresident\b|"
            r"managing director|\bmd\b",
            "c_level",
        ),
        (r"teamleit|gruppenleit|team lead|\bteam leader", "manager"),
        (r"\bhead\b|\bdirector\b|\bdirektor|leiter|leitung|\bprokurist", "head_director"),
        (r"manager|\bmanagerin|\bmgr\b|supervisor|\blead\b|\bverantwortlich", "manager"),
        (r"[a-z]", "individual_contributor"),
    ]
)

FUNCTION_RULES = _rules(
    [
        (
            r"\bcmo\b|marketing|\bbrand|\bcontent|\bseo\b|\bsem\b|campaign|kampagne|"
            r"communication|kommunikation|\bpr\b|social media|demand gen|\bgrowth\b|"
            r"werbung",
            "marketing",
        ),
        (
            r"\bcro\b|\bsales\b|vertrieb|verkauf|account (executive|manager)|key account|"
            r"business development|\bbdr\b|\bsdr\b|\brevenue\b|\bkundenberat|aussendienst|"
            r"innendienst",
            "sales",
        ),
        (
            r"\bcto\b|\bcio\b|\bit\b|\bit-|-it\b|software|developer|entwickl|engineer|"
            r"informatik|devops|\bdata\b|daten|system|admin|\bdigital|technolog|\btech\b|"
            r"programm",
            "it",
        ),
        (
            r"\bcfo\b|financ|finanz|controll|accounting|accountant|buchhalt|treasur|"
            r"steuer|\btax\b",
            "finance",
        ),
        (
            r"\bcoo\b|operations|\bops\b|betrieb|logisti|supply chain|produktion|production|"
            r"procurement|einkauf|einkaeuf|purchas|facility|fertigung|qualit",
            "operations",
        ),
        (r"[a-z]", "other"),
    ]
)


def _classify(title: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    folded = _fold(title)
    for pattern, label in rules:
        if pattern.search(folded):
            return label
    return MISSING


def _map_unique(values: pd.Series, parse: Callable[[str], str]) -> pd.Series:
    """Apply ``parse`` once per distinct value (titles repeat a lot); placeholders and
    missing values are ``unknown``."""

    def apply(uniques: pd.Series) -> pd.Series:
        stripped = uniques.str.strip()
        blank = stripped.isna() | stripped.str.lower().isin(PLACEHOLDERS)
        parsed = [MISSING if b else parse(str(s)) for s, b in zip(stripped, blank, strict=True)]
        return pd.Series(parsed, dtype="string")

    out = pd.Series(map_distinct(values, apply), index=values.index, dtype="string")
    return out.fillna(MISSING)


def seniority(titles: pd.Series) -> pd.Series:
    """student_intern, c_level, vp, head_director, manager, individual_contributor or
    unknown, from free-text job titles in English and German."""
    return _map_unique(titles, lambda t: _classify(t, SENIORITY_RULES))


def job_function(titles: pd.Series) -> pd.Series:
    """marketing, sales, it, finance, operations, other or unknown."""
    return _map_unique(titles, lambda t: _classify(t, FUNCTION_RULES))


FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.de",
        "yahoo.co.uk",
        "ymail.com",
        "hotmail.com",
        "hotmail.de",
        "hotmail.co.uk",
        "outlook.com",
        "outlook.de",
        "live.com",
        "live.de",
        "msn.com",
        "aol.com",
        "aol.de",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "web.de",
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "posteo.de",
        "mail.de",
        "mail.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "bluewin.ch",
        "aon.at",
        "chello.at",
        "zoho.com",
        "tutanota.com",
        "tuta.io",
    }
)

_EMAIL = r"^[^@\s]+@(?P<domain>[a-z0-9.-]+\.[a-z]{2,})$"


def email_domain_kind(emails: pd.Series) -> pd.Series:
    """business, free_mail or unknown. Only the domain is looked at; the address itself
    never leaves this function."""

    text = pa.array(emails.astype("string").str.strip().str.lower().array)
    matched = pc.extract_regex(text, _EMAIL)
    domain = pc.struct_field(matched, "domain")
    valid = np.asarray(matched.is_valid(), dtype=bool) & np.asarray(domain.is_valid(), dtype=bool)
    free = np.asarray(pc.fill_null(pc.is_in(domain, pa.array(sorted(FREE_MAIL_DOMAINS))), False))
    kind = np.where(valid, np.where(free, "free_mail", "business"), MISSING)
    return pd.Series(kind, index=emails.index, dtype="string")


_NUMBER = r"(\d[\d.,' ]*)"
_RANGE = re.compile(rf"^{_NUMBER}\s*(?:-|–|to|bis)\s*{_NUMBER}$")
_PLUS = re.compile(rf"^(?:>|more than|over|über|ueber)?\s*{_NUMBER}\s*\+?$")


def _to_number(text: str) -> float:
    cleaned = re.sub(r"[,' ]", "", text)
    # "1.000" is a German thousands separator when followed by exactly three digits.
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", cleaned):
        cleaned = cleaned.replace(".", "")
    number = float(cleaned)
    if not np.isfinite(number):  # more digits than a float holds
        raise ValueError(f"not a finite number: {text!r}")
    return number


def parse_company_size(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Employees as a number: plain numbers, ranges ("51-200" -> geometric midpoint) and
    open bands ("1000+"). Returns (sizes, unparsable mask); placeholders are missing, not
    unparsable."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = pd.Series(~np.isfinite(numbers.fillna(0.0)) | (numbers < 0), index=values.index)
        return numbers.where(~bad), bad
    text = values.astype("string").str.strip().str.lower()
    missing = text.isna() | text.isin(PLACEHOLDERS)

    def parse(raw: str) -> float:
        try:
            match = _RANGE.match(raw)
            if match:
                low, high = _to_number(match.group(1)), _to_number(match.group(2))
                return float(np.sqrt(max(low, 1.0)) * np.sqrt(max(high, 1.0)))
            match = _PLUS.match(raw)
            if match:
                return _to_number(match.group(1))
        except ValueError:
            return float("nan")
        return float("nan")

    uniques = text[~missing].unique()
    mapping = {value: parse(str(value)) for value in uniques}
    sizes = text.map(mapping).astype("float64").where(~missing)
    bad = (~missing) & sizes.isna()
    return sizes, bad.fillna(False).astype(bool)
