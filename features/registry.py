"""The feature registry: every feature declared once, with its family, a business label a
marketer understands, its source columns and how it is computed. Training, scoring, reason
codes and reports read names and labels from here; the feature builder dispatches on
``Stat`` and nothing else, so a feature cannot exist without its declaration."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from leadscore.features import schema


class Family(StrEnum):
    BEHAVIOUR = "behaviour"
    DEMOGRAPHIC = "demographic"
    ENGAGEMENT = "engagement"


class Kind(StrEnum):
    """How a value is shown to a person."""

    COUNT = "count"
    DAYS = "days"
    RATE = "rate"
    SECONDS = "seconds"
    NUMBER = "number"
    SCORE = "score"
    CATEGORY = "category"


class Stat(StrEnum):
    """How a feature is computed. All activity statistics use only events strictly before
    the row's as-of time; a window of w days covers ``as_of - w <= occurred_at < as_of``."""

    TYPE_COUNT_WINDOW = "type_count_window"
    TYPE_COUNT_TOTAL = "type_count_total"
    TYPE_DAYS_SINCE_LAST = "type_days_since_last"
    TYPE_DAYS_SINCE_FIRST = "type_days_since_first"
    TYPE_VALUE_TOTAL = "type_value_total"
    GROUP_COUNT_WINDOW = "group_count_window"
    GROUP_COUNT_TOTAL = "group_count_total"
    GROUP_DAYS_SINCE_LAST = "group_days_since_last"
    GROUP_DAYS_SINCE_FIRST = "group_days_since_first"
    GROUP_DECAYED = "group_decayed"
    GROUP_MOMENTUM = "group_momentum"
    TIME_ON_SITE_WINDOW = "time_on_site_window"
    TIME_ON_SITE_TOTAL = "time_on_site_total"
    ACTIVE_DAYS_WINDOW = "active_days_window"
    ACTIVE_DAYS_TOTAL = "active_days_total"
    EMAIL_RATE = "email_rate"
    FIRST_RESPONSE = "first_response"
    LEAD_AGE = "lead_age"
    CATEGORY = "category"
    NUMBER = "number"
    DATE_AGE = "date_age"


class Group(StrEnum):
    """Activity groups. ``activities``: everything the lead did itself (all modelled types
    except outbound ones such as e-mails sent by marketing). ``high_intent``: the actions
    that signal buying intent (pricing, demo, trial, quote, contact form)."""

    ACTIVITIES = "activities"
    HIGH_INTENT = "high_intent"


@dataclass(frozen=True)
class FeatureDef:
    name: str
    family: Family
    label: str
    kind: Kind
    stat: Stat
    source_columns: tuple[str, ...]
    description: str
    origin: str  # what the leakage gate excludes together: a lead column or an activity type
    activity_type: str | None = None
    group: Group | None = None
    window_days: int | None = None

    def format_value(self, value: object) -> str:
        """The lead's own value in words, as shown in reasons."""
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if self.kind is Kind.CATEGORY:
            return "unknown" if missing else str(value).replace("_", " ")
        if missing:
            return {Kind.DAYS: "never", Kind.RATE: "no e-mails yet"}.get(self.kind, "unknown")
        number = float(value)  # type: ignore[arg-type]
        if self.kind is Kind.COUNT:
            return f"{number:.0f}"
        if self.kind is Kind.DAYS:
            return f"{number:.0f} days" if number >= 1 else "today"
        if self.kind is Kind.RATE:
            return f"{number:.0%}"
        if self.kind is Kind.SECONDS:
            return f"{number / 60:.0f} min" if number >= 60 else f"{number:.0f} s"
        if self.kind is Kind.SCORE:
            return f"{number:+.2f}" if self.stat is Stat.GROUP_MOMENTUM else f"{number:.1f}"
        return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"


# Plural and singular wording of the contract's common activity types.
ACTIVITY_WORDS: dict[str, tuple[str, str]] = {
    "page_view": ("Page views", "page view"),
    "pricing_page_view": ("Pricing page views", "pricing page view"),
    "email_sent": ("E-mails sent", "e-mail sent"),
    "email_open": ("E-mail opens", "e-mail open"),
    "email_click": ("E-mail clicks", "e-mail click"),
    "form_submit": ("Form submissions", "form submission"),
    "content_download": ("Content downloads", "content download"),
    "webinar_registered": ("Webinar registrations", "webinar registration"),
    "webinar_attended": ("Webinars attended", "webinar attended"),
    "newsletter_signup": ("Newsletter sign-ups", "newsletter sign-up"),
    "ad_click": ("Ad clicks", "ad click"),
    "demo_request": ("Demo requests", "demo request"),
    "trial_signup": ("Trial sign-ups", "trial sign-up"),
    "quote_request": ("Quote requests", "quote request"),
    "meeting": ("Meetings", "meeting"),
    "sales_call": ("Sales calls", "sales call"),
}
OTHER_ACTIVITY = "other"
ENGAGEMENT_TYPES = frozenset({"email_sent", "email_open", "email_click", "newsletter_signup"})
GROUP_WORDS = {
    Group.ACTIVITIES: ("Lead's own activities", "own activity"),
    Group.HIGH_INTENT: ("High-intent actions", "high-intent action"),
}
DECAY_HALF_LIFE_DAYS = 14.0
MOMENTUM_DAYS = 14
EMAIL_SENT, EMAIL_OPEN, EMAIL_CLICK = "email_sent", "email_open", "email_click"

_ACTIVITY_SOURCES = (schema.ACTIVITY_TYPE, schema.OCCURRED_AT)


def activity_words(activity_type: str) -> tuple[str, str]:
    if activity_type == OTHER_ACTIVITY:
        return ("Other activities", "other activity")
    if activity_type in ACTIVITY_WORDS:
        return ACTIVITY_WORDS[activity_type]
    words = activity_type.replace("_", " ")
    return (f"'{words}' activities", f"'{words}' activity")


def _type_family(activity_type: str) -> Family:
    return Family.ENGAGEMENT if activity_type in ENGAGEMENT_TYPES else Family.BEHAVIOUR


# The statistics of an activity type and of a group of types, in the order their features
# are declared: name suffix, label, kind, then (stat, description) for a type and for a
# group (None: not declared for it). Text is formatted with the activity type or group
# (key), its plural and singular words and the window. ``value_total`` exists only for types
# whose activities carry a value; the group ``days_since_first`` only for all activities.
_Variant = tuple[Stat, str] | None
_STATS: tuple[tuple[str, str, Kind, _Variant, _Variant], ...] = (
    ("count_{days}d", "{plural}, last {days} days", Kind.COUNT,
     (Stat.TYPE_COUNT_WINDOW, "Number of '{key}' activities in the {days} days before as-of."),
     (Stat.GROUP_COUNT_WINDOW, "{plural} in the {days} days before as-of.")),
    ("count_total", "{plural}, since the lead was created", Kind.COUNT,
     (Stat.TYPE_COUNT_TOTAL, "Number of '{key}' activities before as-of."),
     (Stat.GROUP_COUNT_TOTAL, "{plural} before as-of.")),
    ("days_since_last", "Days since last {singular}", Kind.DAYS,
     (Stat.TYPE_DAYS_SINCE_LAST,
      "Days from the latest '{key}' before as-of to as-of; missing if there was none."),
     (Stat.GROUP_DAYS_SINCE_LAST, "Days from the latest {singular} before as-of to as-of.")),
    ("days_since_first", "Days since first {singular}", Kind.DAYS,
     (Stat.TYPE_DAYS_SINCE_FIRST, "Days from the earliest '{key}' to as-of; missing if none."),
     None),
    ("value_total", "Time spent on {plural_lower}", Kind.SECONDS,
     (Stat.TYPE_VALUE_TOTAL,
      "Sum of `value` (seconds, per the contract) of '{key}' activities before as-of."),
     None),
    ("decayed", "{plural}, recency-weighted", Kind.SCORE, None,
     (Stat.GROUP_DECAYED, "Each {singular} before as-of counts 2^(-age / {half_life:g} days): "
      "exponential decay with a half-life of {half_life:g} days.")),
    ("momentum", "{plural}: momentum, last {momentum} vs previous {momentum} days", Kind.SCORE,
     None, (Stat.GROUP_MOMENTUM, "log((n_recent + 1) / (n_previous + 1)): the last {momentum} "
            "days against the {momentum} days before; > 0 means heating up.")),
    ("days_since_first", "Days since first {singular}", Kind.DAYS, None,
     (Stat.GROUP_DAYS_SINCE_FIRST, "Days from the earliest {singular} to as-of.")),
)  # fmt: skip


def _declared(
    key: str, words: tuple[str, str], windows_days: tuple[int, ...], group: Group | None,
    with_value: bool, **common: object,
) -> list[FeatureDef]:  # fmt: skip
    """The features of one activity type (``group`` None) or group, windowed ones once per
    window, in the order of ``_STATS``."""
    plural, singular = words
    text = {
        "key": key, "plural": plural, "singular": singular, "plural_lower": plural.lower(),
        "half_life": DECAY_HALF_LIFE_DAYS, "momentum": MOMENTUM_DAYS,
    }  # fmt: skip
    defs = []
    for suffix, label, kind, for_type, for_group in _STATS:
        variant = for_type if group is None else for_group
        if variant is None:
            continue
        stat, description = variant
        if stat is Stat.TYPE_VALUE_TOTAL and not with_value:
            continue
        if stat is Stat.GROUP_DAYS_SINCE_FIRST and group is not Group.ACTIVITIES:
            continue
        sources: tuple[str, ...] = _ACTIVITY_SOURCES
        if stat is Stat.TYPE_VALUE_TOTAL:
            sources = (*_ACTIVITY_SOURCES, schema.VALUE)
        for days in windows_days if "{days}" in suffix else (None,):
            defs.append(
                FeatureDef(
                    name=f"{key}__{suffix.format(days=days)}",
                    label=label.format(days=days, **text),
                    kind=kind,
                    stat=stat,
                    description=description.format(days=days, **text),
                    source_columns=sources,
                    window_days=days,
                    group=group,
                    **common,  # type: ignore[arg-type]
                )
            )
    return defs


def activity_type_features(
    activity_type: str, windows_days: tuple[int, ...], with_value: bool
) -> list[FeatureDef]:
    return _declared(
        activity_type,
        activity_words(activity_type),
        windows_days,
        None,
        with_value,
        family=_type_family(activity_type),
        origin=f"activity:{activity_type}",
        activity_type=activity_type,
    )


def group_features(group: Group, windows_days: tuple[int, ...]) -> list[FeatureDef]:
    return _declared(
        str(group),
        GROUP_WORDS[group],
        windows_days,
        group,
        False,
        family=Family.BEHAVIOUR if group is Group.HIGH_INTENT else Family.ENGAGEMENT,
        origin=f"group:{group}",
    )


def site_features(windows_days: tuple[int, ...]) -> list[FeatureDef]:
    """Time on site and distinct active days, from the lead's own activities."""
    sources = (*_ACTIVITY_SOURCES, schema.VALUE)
    defs = [
        FeatureDef(
            name="time_on_site__seconds_total",
            family=Family.BEHAVIOUR,
            label="Time on site",
            kind=Kind.SECONDS,
            stat=Stat.TIME_ON_SITE_TOTAL,
            source_columns=sources,
            description="Sum of `value` (seconds) over the lead's own activity types that "
            "carry a value (page views), before as-of.",
            origin="group:time_on_site",
        )
    ]
    defs += [
        FeatureDef(
            name=f"time_on_site__seconds_{days}d",
            family=Family.BEHAVIOUR,
            label=f"Time on site, last {days} days",
            kind=Kind.SECONDS,
            stat=Stat.TIME_ON_SITE_WINDOW,
            source_columns=sources,
            description=f"Time on site in the {days} days before as-of.",
            origin="group:time_on_site",
            window_days=days,
        )
        for days in windows_days
        if days >= 30
    ]
    defs += [
        FeatureDef(
            name=f"active_days__{days}d",
            family=Family.ENGAGEMENT,
            label=f"Active days, last {days} days",
            kind=Kind.COUNT,
            stat=Stat.ACTIVE_DAYS_WINDOW,
            source_columns=_ACTIVITY_SOURCES,
            description=f"Distinct calendar days (UTC) with an own activity in the {days} "
            "days before as-of.",
            origin="group:active_days",
            window_days=days,
        )
        for days in windows_days
        if days >= 30
    ]
    defs.append(
        FeatureDef(
            name="active_days__total",
            family=Family.ENGAGEMENT,
            label="Active days since the lead was created",
            kind=Kind.COUNT,
            stat=Stat.ACTIVE_DAYS_TOTAL,
            source_columns=_ACTIVITY_SOURCES,
            description="Distinct calendar days (UTC) with an own activity before as-of.",
            origin="group:active_days",
        )
    )
    return defs


def email_features(has_open: bool, has_click: bool) -> list[FeatureDef]:
    defs = []
    for present, kind, label in (
        (has_open, EMAIL_OPEN, "E-mail open rate"),
        (has_click, EMAIL_CLICK, "E-mail click rate"),
    ):
        if present:
            defs.append(
                FeatureDef(
                    name=f"{kind}__rate",
                    family=Family.ENGAGEMENT,
                    label=label,
                    kind=Kind.RATE,
                    stat=Stat.EMAIL_RATE,
                    source_columns=_ACTIVITY_SOURCES,
                    description=f"('{kind}' + k * r) / ('email_sent' + k) before as-of: shrunk "
                    "towards the training-wide rate r with strength k, so three sends "
                    "do not make a 100% rate; the training-wide rate when nothing was sent.",
                    origin=f"activity:{kind}",
                    activity_type=kind,
                )
            )
    return defs


FIRST_RESPONSE = FeatureDef(
    name="first_response_days",
    family=Family.ENGAGEMENT,
    label="Days to first response",
    kind=Kind.DAYS,
    stat=Stat.FIRST_RESPONSE,
    source_columns=(*_ACTIVITY_SOURCES, schema.CREATED_AT),
    description="Days from the first touch (first outbound activity such as an e-mail sent, "
    "else creation) to the lead's first own activity after it; missing until it responds.",
    origin="group:first_response",
)

LEAD_AGE = FeatureDef(
    name="lead_age_days",
    family=Family.ENGAGEMENT,
    label="Lead age",
    kind=Kind.DAYS,
    stat=Stat.LEAD_AGE,
    source_columns=(schema.CREATED_AT,),
    description="Days between created_at and as-of.",
    origin=schema.CREATED_AT,
)

COMPANY_SIZE = FeatureDef(
    name="company_size",
    family=Family.DEMOGRAPHIC,
    label="Company size (employees)",
    kind=Kind.NUMBER,
    stat=Stat.NUMBER,
    source_columns=(schema.COMPANY_SIZE,),
    description="Employees; ranges such as '51-200' become their geometric midpoint.",
    origin=schema.COMPANY_SIZE,
)

# Categorical features of well-known columns: name -> (label, source column, description).
CATEGORICAL: dict[str, tuple[str, str, str]] = {
    "lead_source": ("Lead source", schema.LEAD_SOURCE, "Normalised lead source (synonyms merged)."),
    "industry": ("Industry", schema.INDUSTRY, "Normalised industry (synonyms merged)."),
    "country": ("Country", schema.COUNTRY, "Country as ISO code where recognised."),
    "company_size_band": (
        "Company size band",
        schema.COMPANY_SIZE,
        "1-9, 10-49, 50-249, 250-999, 1000-4999, 5000+ employees, or unknown.",
    ),
    "seniority": (
        "Seniority",
        schema.JOB_TITLE,
        "Seniority parsed from the job title (English and German).",
    ),
    "job_function": (
        "Job function",
        schema.JOB_TITLE,
        "Function parsed from the job title (English and German).",
    ),
    "email_domain_kind": (
        "E-mail domain",
        schema.EMAIL,
        "Business or free-mail domain; the address itself is never used.",
    ),
}


def categorical_feature(name: str) -> FeatureDef:
    label, source, description = CATEGORICAL[name]
    return FeatureDef(
        name=name,
        family=Family.DEMOGRAPHIC,
        label=label,
        kind=Kind.CATEGORY,
        stat=Stat.CATEGORY,
        source_columns=(source,),
        description=description,
        origin=source,
    )


_SLUG = re.compile(r"[^0-9a-z]+")
_ENGAGEMENT_WORDS = re.compile(
    r"visit|view|click|open|mail|session|page|time|download|call|contact"
)


def attribute_slug(column: str) -> str:
    return "attr__" + (_SLUG.sub("_", column.lower()).strip("_") or "column")


def attribute_feature(column: str, role: str, family: Family | None = None) -> FeatureDef:
    """A feature straight from an export column (flat exports, extra attributes)."""
    words = column.replace("_", " ").replace(".", " ").strip()
    label = words[:1].upper() + words[1:]
    if family is None:
        engaged = _ENGAGEMENT_WORDS.search(column.lower()) is not None
        family = Family.ENGAGEMENT if engaged and role != "categorical" else Family.DEMOGRAPHIC
    if role == "categorical":
        kind, stat, description = Kind.CATEGORY, Stat.CATEGORY, f"Column '{column}', normalised."
    elif role == "date":
        kind, stat = Kind.DAYS, Stat.DATE_AGE
        label = f"Days since {words}"
        description = f"Days from column '{column}' to as-of; values at or after as-of are missing."
    else:
        kind, stat, description = Kind.NUMBER, Stat.NUMBER, f"Column '{column}' as a number."
    return FeatureDef(
        name=attribute_slug(column),
        family=family,
        label=label,
        kind=kind,
        stat=stat,
        source_columns=(column,),
        description=description,
        origin=column,
    )


def registry_frame(definitions: list[FeatureDef]) -> pd.DataFrame:
    """The registry as a table: what the MLflow run and `leadscore features` show."""
    return pd.DataFrame(
        [
            {
                "feature": d.name,
                "family": str(d.family),
                "label": d.label,
                "kind": str(d.kind),
                "source_columns": ",".join(d.source_columns),
                "description": d.description,
            }
            for d in definitions
        ],
        columns=["feature", "family", "label", "kind", "source_columns", "description"],
    )
