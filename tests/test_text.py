"""Category normalisation and parsing free text: job titles (English and German), e-mail
domains, company sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.text import (
    email_domain_kind,
    job_function,
    normalise_category,
    parse_company_size,
    seniority,
)


def test_normalise_category() -> None:
    values = pd.Series(
        [" Paid_Search ", "PAID  SEARCH", "paid search", "N/A", "", None, "--", "Select"]
    )
    out = normalise_category(values)
    assert out.iloc[:3].tolist() == ["paid search"] * 3
    assert out.iloc[3:].isna().all()


@pytest.mark.parametrize(
    ("title", "expected_seniority", "expected_function"),
    [
        ("Head of Marketing", "head_director", "marketing"),
        ("Geschäftsführer", "c_level", "other"),
        ("Geschäftsführerin", "c_level", "other"),
        ("GESCHAEFTSFUEHRER", "c_level", "other"),
        ("Werkstudent", "student_intern", "other"),
        ("Werkstudentin Marketing", "student_intern", "marketing"),
        ("Leiter Vertrieb", "head_director", "sales"),
        ("Vertriebsleiterin", "head_director", "sales"),
        ("IT-Leiter", "head_director", "it"),
        ("Teamleiter Vertrieb", "manager", "sales"),
        ("CFO", "c_level", "finance"),
        ("Chief Technology Officer", "c_level", "it"),
        ("Managing Director", "c_level", "other"),
        ("VP Sales", "vp", "sales"),
        ("Vice President Marketing", "vp", "marketing"),
        ("Director of IT", "head_director", "it"),
        ("Marketing Managerin", "manager", "marketing"),
        ("Key Account Manager", "manager", "sales"),
        ("Account Executive", "individual_contributor", "sales"),
        ("Softwareentwickler", "individual_contributor", "it"),
        ("Sachbearbeiter Buchhaltung", "individual_contributor", "finance"),
        ("Logistics Coordinator", "individual_contributor", "operations"),
        ("Praktikantin Vertrieb", "student_intern", "sales"),
        ("Marketing Intern", "student_intern", "marketing"),
        ("  head of MARKETING  ", "head_director", "marketing"),
        ("Einkäufer", "individual_contributor", "operations"),
    ],
)
def test_job_titles(title: str, expected_seniority: str, expected_function: str) -> None:
    titles = pd.Series([title])
    assert seniority(titles).iloc[0] == expected_seniority
    assert job_function(titles).iloc[0] == expected_function


def test_empty_titles_are_unknown() -> None:
    titles = pd.Series(["", None, "n/a"])
    assert seniority(titles).tolist() == ["unknown"] * 3
    assert job_function(titles).tolist() == ["unknown"] * 3


def test_email_domain_kind_never_returns_the_address() -> None:
    emails = pd.Series(["anna.mueller@acme-gmbh.de", "x@GMAIL.com", "nope", "", None, "a@web.de"])
    out = email_domain_kind(emails).tolist()
    assert out == ["business", "free_mail", "unknown", "unknown", "unknown", "free_mail"]


def test_company_size_parsing() -> None:
    sizes, bad = parse_company_size(
        pd.Series(["250", "51-200", "1.000", "10,000", "5000+", "", "unknown", "lots", "1 - 10"])
    )
    assert sizes.iloc[0] == 250
    assert sizes.iloc[1] == pytest.approx(np.sqrt(51 * 200))
    assert sizes.iloc[2] == 1000
    assert sizes.iloc[3] == 10000
    assert sizes.iloc[4] == 5000
    assert sizes.iloc[5:8].isna().all()
    assert sizes.iloc[8] == pytest.approx(np.sqrt(10))
    assert bad.tolist() == [False] * 7 + [True, False]


def test_numeric_company_size() -> None:
    sizes, bad = parse_company_size(pd.Series([10.0, np.nan, -3.0, np.inf]))
    assert sizes.iloc[0] == 10
    assert sizes.iloc[1:].isna().all()
    assert bad.tolist() == [False, False, True, True]
