"""Column roles from values and names: ids and codes are not free text (a token repeated
over leads is a category, pooled by the feature builder), personal data is judged by its
values as well as its name (size bands are not phone numbers; a handful of repeated values
under a personal-sounding name identify nobody; names, e-mails, phones stay out)."""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
import pandas as pd
import pytest

from leadscore.features import text
from leadscore.features.attributes import ColumnRole, Role, infer_role
from leadscore.features.build import FeatureSettings, build_features, fit_spec
from leadscore.features.registry import attribute_slug
from leadscore.pipelines.config import Config
from leadscore.pipelines.io.tables import prepare_tables

AS_OF = pd.Timestamp("2025-03-01", tz="UTC")
BANDS = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000"]


def role_of(values: list[str], name: str = "col") -> ColumnRole:
    return infer_role(pd.Series(values, name=name), max_categories=30)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def people_names(n: int) -> list[str]:
    """``n`` distinct made-up first names, letters only."""
    first = ["ber", "cla", "dor", "eli", "fre", "gun", "hel", "ing", "jor", "kat", "lou"]
    second = ["ta", "ra", "na", "mo", "li", "sa", "de", "ko", "vi", "re", "pa", "to"]
    third = ["", "n", "s", "th"]
    names = [(a + b + c).capitalize() for a in first for b in second for c in third]
    assert len(set(names)) >= n
    return names[:n]


# -- ids and codes ---------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [40, 2000])
def test_uuids_are_id_like_not_free_text(rows: int) -> None:
    rng = np.random.default_rng(1)
    ids = [str(uuid.UUID(int=int(rng.integers(2**62)) << 64 | i)) for i in range(rows)]
    role = role_of(ids, "visitor_uuid")
    assert role.role is Role.IGNORE
    assert role.reason.startswith("ID-like")


def test_hex_ids_are_id_like_not_free_text() -> None:
    role = role_of([md5(f"lead {i}") for i in range(500)], "hs_object_hash")
    assert role.role is Role.IGNORE
    assert role.reason.startswith("ID-like")


def test_codes_with_too_few_repeats_are_not_categories() -> None:
    role = role_of([f"LP-{i // 3 * 2 + i % 2:05d}" for i in range(600)])  # ~1.5 rows per code
    assert role.role is Role.IGNORE
    assert "free text" not in role.reason


@pytest.mark.parametrize(
    "codes",
    [
        [f"LP-{i % 120:05d}" for i in range(600)],  # five rows per code
        [md5(f"page {i % 150}")[:6] for i in range(900)],  # like a1b2c3
    ],
)
def test_codes_with_repeats_are_categorical(codes: list[str]) -> None:
    role = role_of(codes, "landing_page")
    assert role.role is Role.CATEGORICAL
    assert role.reason == f"codes with repeats: {len(set(codes))} distinct values, rare ones pooled"


def test_hashed_landing_pages_are_pooled_by_the_feature_builder() -> None:
    """400 hashed pages over 3,000 leads, a few of them popular: the popular ones become
    the vocabulary (at most max_categories), the rest is pooled into ``other``."""
    rng = np.random.default_rng(7)
    pages = [md5(f"https://example.com/lp/{i}") for i in range(400)]
    weights = 1 / np.arange(1, 401)  # Zipf: a few pages draw most leads
    drawn = list(rng.choice(pages, size=3000, p=weights / weights.sum()))
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(3000)], "landing_page": drawn})
    assert role_of(drawn, "landing_page").role is Role.CATEGORICAL

    tables = prepare_tables(leads, None, Config())
    settings = FeatureSettings(min_category_count=20, max_categories=30)
    spec = fit_spec(tables.leads, None, settings)
    assert dict(spec.attributes) == {"landing_page": "categorical"}
    counts = pd.Series(drawn).value_counts()
    frequent = counts[counts >= 20]
    vocabulary = spec.categories[attribute_slug("landing_page")]
    assert vocabulary[-2:] == (text.OTHER, text.MISSING)
    assert set(vocabulary[:-2]) == set(frequent.index[:30])
    assert 0 < len(vocabulary) - 2 < len(counts)

    rows = pd.DataFrame(
        {
            "lead_id": leads["lead_id"],
            "as_of": pd.Series([AS_OF] * 3000, dtype="datetime64[us, UTC]"),
        }
    )
    built = build_features(tables.leads, None, rows, spec)[attribute_slug("landing_page")]
    kept = pd.Series(drawn).isin(vocabulary).to_numpy()
    assert (built[~kept] == text.OTHER).all() and (~kept).sum() > 100
    assert (built[kept].astype(str).to_numpy() == np.array(drawn)[kept]).all()


# -- free text -------------------------------------------------------------------------------


def test_notes_in_words_are_free_text() -> None:
    rng = np.random.default_rng(3)
    words = ["asked", "about", "pricing", "call", "back", "next", "week", "budget", "demo"]
    notes = [" ".join(rng.choice(words, size=int(rng.integers(4, 9)))) for _ in range(300)]
    assert role_of(notes, "Remarks") == ColumnRole("Remarks", Role.IGNORE, "free text")


# -- phones and bands ------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [20, 300])
def test_company_size_bands_are_not_phone_numbers(rows: int) -> None:
    bands = [BANDS[i % len(BANDS)] for i in range(rows)]
    assert role_of(bands, "Employees").role is Role.CATEGORICAL


@pytest.mark.parametrize(
    "phones",
    [
        [f"+49 30 {1_000_000 + 7919 * i}" for i in range(200)],
        [f"({200 + i % 700}) 555-{1000 + i:04d}" for i in range(200)],
        [f"+1-555-{100_000 + i % 300}" for i in range(1000)],  # switchboards shared by leads
        [f"+49 30 {1_000_000 + i}" for i in range(20)],  # a small frame
    ],
)
def test_phone_numbers_are_personal_whatever_the_name(phones: list[str]) -> None:
    assert role_of(phones, "contact_no") == ColumnRole(
        "contact_no", Role.IGNORE, "personal data: phone numbers"
    )


# -- personal data by name and by values -----------------------------------------------------


@pytest.mark.parametrize("name", ["zip_code", "PostalCode", "ip_region"])
def test_a_personal_name_over_repeated_categories_is_a_category(name: str) -> None:
    areas = ["Urban", "Surburban", "Rural", "Urban"] * 60
    role = role_of(areas, name)
    assert role.role is Role.CATEGORICAL
    assert "name suggests personal data" in role.reason and "repeated categories" in role.reason


@pytest.mark.parametrize(
    ("values", "name"),
    [
        (["Urban", "Surburban", "Rural", "Urban"] * 5, "zip_code"),  # too few rows to tell
        (["Urban", "Rural"] * 100 + ["10115"], "zip_code"),  # one value held by one lead
        ([f"{10000 + i % 30 * 37}" for i in range(600)], "zip_code"),  # real zips, repeated
        ([f"Street {i % 40}" for i in range(800)], "street"),  # more than a handful
    ],
)
def test_personal_names_win_without_enough_evidence(values: list[str], name: str) -> None:
    role = role_of(values, name)
    assert role.role is Role.IGNORE
    assert role.reason.startswith("personal data")


def test_first_names_stay_personal_however_often_they_repeat() -> None:
    names = people_names(300)
    many = [names[i % 300] for i in range(3000)]
    assert role_of(many, "first_name").reason == "personal data: names (by its name)"
    few = [names[i % 8] for i in range(1200)]  # 8 surnames over 1,200 leads: still names
    assert role_of(few, "LastName").role is Role.IGNORE
    assert role_of(few[:10], "Contact Name").role is Role.IGNORE


@pytest.mark.parametrize("name", ["contact", "email_address"])
def test_email_addresses_are_personal(name: str) -> None:
    unique = [f"person{i}@example.org" for i in range(300)]
    repeated = [f"desk{i % 4}@example.org" for i in range(400)]  # a handful, repeated
    for values in (unique, repeated):
        role = role_of(values, name)
        assert role.role is Role.IGNORE and role.reason.startswith("personal data: e-mail")


def test_a_channel_flag_stays_a_feature() -> None:
    flag = ["Yes", "No", "No"] * 10
    assert role_of(flag, "Do Not Email").role is Role.CATEGORICAL
    assert role_of(["mobile", "landline", "voip", "mobile"] * 50, "phone_type").role is (
        Role.CATEGORICAL
    )
