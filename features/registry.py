"""The feature registry: every feature declared once, with its family, a business label a
marketer understands, its source columns and how it is computed. Training, scoring, reason
codes and reports read names and labels from here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

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
    CATEGORY = "category"


class Stat(StrEnum):
    """How a feature is computed (the feature builder dispatches on this)."""

    TYPE_COUNT_WINDOW = "type_count_window"  # events of one type in [as_of - w, as_of)
    TYPE_COUNT_TOTAL = "type_count_total"  # events of one type before as_of
    TYPE_DAYS_SINCE_LAST = "type_days_since_last"
    TYPE_VALUE_TOTAL = "type_value_total"  # sum of `value` of one type before as_of
    ANY_COUNT_WINDOW = "any_count_window"
    ANY_COUNT_TOTAL = "any_count_total"
    ANY_DAYS_SINCE_LAST = "any_days_since_last"
    ANY_DAYS_SINCE_FIRST = "any_days_since_first"
    RATE_TOTAL = "rate_total"  # count(numerator type) / count(denominator type)
    LEAD_AGE = "lead_age"
    CATEGORY = "category"
    NUMBER = "number"


@dataclass(frozen=True)
class FeatureDef:
    name: str
    family: Family
    label: str
    kind: Kind
    stat: Stat
    source_columns: tuple[str, ...]
    description: str
    activity_type: str | None = None
    window_days: int | None = None
    denominator_type: str | None = None

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
    "meeting": ("Meetings", "meeting"),
    "sales_call": ("Sales calls", "sales call"),
}
OTHER_ACTIVITY = "other"
ENGAGEMENT_TYPES = frozenset({"email_sent", "email_open", "email_click", "newsletter_signup"})


def activity_words(activity_type: str) -> tuple[str, str]:
    if activity_type == OTHER_ACTIVITY:
        return ("Other activities", "other activity")
    if activity_type in ACTIVITY_WORDS:
        return ACTIVITY_WORDS[activity_type]
    words = activity_type.replace("_", " ")
    return (f"'{words}' activities", f"'{words}' activity")


def _type_family(activity_type: str) -> Family:
    return Family.ENGAGEMENT if activity_type in ENGAGEMENT_TYPES else Family.BEHAVIOUR


_ACTIVITY_SOURCES = (schema.ACTIVITY_TYPE, schema.OCCURRED_AT)


def activity_type_features(
    activity_type: str, windows_days: tuple[int, ...], with_value: bool
) -> list[FeatureDef]:
    plural, singular = activity_words(activity_type)
    family = _type_family(activity_type)
    defs = [
        FeatureDef(
            name=f"{activity_type}__count_{days}d",
            family=family,
            label=f"{plural}, last {days} days",
            kind=Kind.COUNT,
            stat=Stat.TYPE_COUNT_WINDOW,
            source_columns=_ACTIVITY_SOURCES,
            description=f"Number of '{activity_type}' activities in the {days} days before as-of.",
            activity_type=activity_type,
            window_days=days,
        )
        for days in windows_days
    ]
    defs.append(
        FeatureDef(
            name=f"{activity_type}__count_total",
            family=family,
            label=f"{plural}, since the lead was created",
            kind=Kind.COUNT,
            stat=Stat.TYPE_COUNT_TOTAL,
            source_columns=_ACTIVITY_SOURCES,
            description=f"Number of '{activity_type}' activities before as-of.",
            activity_type=activity_type,
        )
    )
    defs.append(
        FeatureDef(
            name=f"{activity_type}__days_since_last",
            family=family,
            label=f"Days since last {singular}",
            kind=Kind.DAYS,
            stat=Stat.TYPE_DAYS_SINCE_LAST,
            source_columns=_ACTIVITY_SOURCES,
            description=f"Days between the latest '{activity_type}' before as-of and as-of; "
            "missing if there was none.",
            activity_type=activity_type,
        )
    )
    if with_value:
        defs.append(
            FeatureDef(
                name=f"{activity_type}__value_total",
                family=family,
                label=f"Time spent on {plural.lower()}",
                kind=Kind.SECONDS,
                stat=Stat.TYPE_VALUE_TOTAL,
                source_columns=(*_ACTIVITY_SOURCES, schema.VALUE),
                description=f"Sum of `value` (seconds, per the contract) of '{activity_type}' "
                "activities before as-of.",
                activity_type=activity_type,
            )
        )
    return defs


def overall_activity_features(windows_days: tuple[int, ...]) -> list[FeatureDef]:
    defs = [
        FeatureDef(
            name=f"activities__count_{days}d",
            family=Family.ENGAGEMENT,
            label=f"All activities, last {days} days",
            kind=Kind.COUNT,
            stat=Stat.ANY_COUNT_WINDOW,
            source_columns=_ACTIVITY_SOURCES,
            description=f"Activities of any modelled type in the {days} days before as-of.",
            window_days=days,
        )
        for days in windows_days
    ]
    defs += [
        FeatureDef(
            name="activities__count_total",
            family=Family.ENGAGEMENT,
            label="All activities since the lead was created",
            kind=Kind.COUNT,
            stat=Stat.ANY_COUNT_TOTAL,
            source_columns=_ACTIVITY_SOURCES,
            description="Activities of any modelled type before as-of.",
        ),
        FeatureDef(
            name="activities__days_since_last",
            family=Family.ENGAGEMENT,
            label="Days since the last activity",
            kind=Kind.DAYS,
            stat=Stat.ANY_DAYS_SINCE_LAST,
            source_columns=_ACTIVITY_SOURCES,
            description="Days between the latest activity before as-of and as-of.",
        ),
        FeatureDef(
            name="activities__days_since_first",
            family=Family.ENGAGEMENT,
            label="Days since the first activity",
            kind=Kind.DAYS,
            stat=Stat.ANY_DAYS_SINCE_FIRST,
            source_columns=_ACTIVITY_SOURCES,
            description="Days between the earliest activity and as-of.",
        ),
    ]
    return defs


def email_rate_features(available_types: frozenset[str]) -> list[FeatureDef]:
    defs = []
    for numerator, label in (
        ("email_open", "E-mail open rate"),
        ("email_click", "E-mail click rate"),
    ):
        if numerator in available_types and "email_sent" in available_types:
            defs.append(
                FeatureDef(
                    name=f"{numerator}__rate",
                    family=Family.ENGAGEMENT,
                    label=label,
                    kind=Kind.RATE,
                    stat=Stat.RATE_TOTAL,
                    source_columns=_ACTIVITY_SOURCES,
                    description=f"'{numerator}' activities per 'email_sent' before as-of; "
                    "missing when no e-mail was sent.",
                    activity_type=numerator,
                    denominator_type="email_sent",
                )
            )
    return defs


LEAD_AGE = FeatureDef(
    name="lead_age_days",
    family=Family.ENGAGEMENT,
    label="Lead age",
    kind=Kind.DAYS,
    stat=Stat.LEAD_AGE,
    source_columns=(schema.CREATED_AT,),
    description="Days between created_at and as-of.",
)

COMPANY_SIZE = FeatureDef(
    name="company_size",
    family=Family.DEMOGRAPHIC,
    label="Company size (employees)",
    kind=Kind.NUMBER,
    stat=Stat.NUMBER,
    source_columns=(schema.COMPANY_SIZE,),
    description="Employees; ranges such as '51-200' become their geometric midpoint.",
)

# Categorical features: name -> (label, source column, description).
CATEGORICAL: dict[str, tuple[str, str, str]] = {
    "lead_source": ("Lead source", schema.LEAD_SOURCE, "Normalised lead source."),
    "industry": ("Industry", schema.INDUSTRY, "Normalised industry."),
    "country": ("Country", schema.COUNTRY, "Normalised country."),
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
    )
