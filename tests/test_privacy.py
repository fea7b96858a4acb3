"""Personal data stays out of MLflow and the logs: a world seeded with recognisable names,
e-mail addresses, phone numbers and free-text notes is trained, scored and reported on, and
every byte MLflow stored (the SQLite store with params, tags and metrics, every artifact of
every run and model) and everything the jobs printed is searched for each seeded value."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.features.attributes import Role, infer_role, personal_field
from leadscore.pipelines.synthetic import generate, write_world

# Names no library, plot or MLflow file would contain by chance; they repeat across leads
# (30 first names for 1,200 leads), so without the personal-data rule they would look like
# a categorical column and their vocabulary would be stored with the model.
FIRST = [
    "Wilhelmina", "Bartholomew", "Zoltan", "Ottilie", "Evander", "Philippa", "Leopoldine",
    "Rosamund", "Thaddeus", "Genoveva", "Ignatius", "Clementine", "Florian", "Hyacinth",
    "Lysander", "Perpetua", "Quirinus", "Seraphina", "Tiberius", "Ursulina", "Valentijn",
    "Winifred", "Xaverius", "Yolantha", "Zebulon", "Apollonia", "Barnabas", "Cordelia",
    "Demetrius", "Euphemia",
]  # fmt: skip
LAST = [
    "Featherstonehaugh", "Okonkwobrandt", "Vasquezlindqvist", "Hohenzollernova",
    "Quackenbush", "Zwirnemann", "Przybyszewski", "Oyelaranwaju", "Cholmondeley",
    "Szentgyorgyi",
]  # fmt: skip
CLI = [sys.executable, "-m", "leadscore.pipelines.cli"]


def seeded_world(folder: Path) -> tuple[Path, Path, list[str]]:
    """A generated world whose leads carry personal data in the ways CRM exports do; returns
    the files and every seeded value to look for."""
    world = generate(1200, seed=21)
    leads = world.leads.copy()
    rng = np.random.default_rng(21)
    n = len(leads)
    first, last = rng.choice(FIRST, n), rng.choice(LAST, n)
    phones = [f"+49 30 {rng.integers(1_000_000, 9_999_999)}" for _ in range(n)]
    mobiles = [f"0151{rng.integers(10_000_000, 99_999_999)}" for _ in range(n)]
    leads["first_name"] = first
    leads["LastName"] = last
    leads["Contact Name"] = [f"{f} {la}" for f, la in zip(first, last, strict=True)]
    leads["email"] = [
        f"{f}.{la}@{d}".lower()
        for f, la, d in zip(first, last, leads["email"].str.split("@").str[1], strict=True)
    ]
    leads["assistant"] = [
        f"{la}.office@{f}-family.de".lower() for f, la in zip(first, last, strict=True)
    ]
    leads["phone"] = phones
    leads["MobilePhone"] = mobiles  # digits only: numbers, by their look
    leads["notes"] = [
        f"Spoke with {f} {la}; call back on {p} after the budget meeting"
        for f, la, p in zip(first, last, phones, strict=True)
    ]
    write_world(replace(world, leads=leads), folder)
    secrets = sorted(
        {*FIRST, *LAST, *leads["email"], *leads["assistant"], *phones, *mobiles}
        | {p.replace(" ", "") for p in phones}
        | {"call back on", "budget meeting"}
    )
    return folder / "leads.csv", folder / "activities.csv", secrets


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd / 'mlflow.db'}"
    done = subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 3), done.stderr[-3000:]
    return done


def found_in(data: bytes, secrets: list[str]) -> list[str]:
    text = data.decode("utf-8", errors="replace").lower()
    return [s for s in secrets if s.lower() in text]


@pytest.mark.integration
def test_no_personal_value_reaches_mlflow_or_the_logs(tmp_path: Path) -> None:
    leads, activities, secrets = seeded_world(tmp_path / "export")
    work = tmp_path / "work"
    work.mkdir()
    files = ["--leads", str(leads), "--activities", str(activities)]
    lead = str(pd.read_csv(leads, dtype=str)["lead_id"].iloc[-1])
    outputs = [
        run(["train", *files, "-v"], work),
        run(["score", *files, "--as-of", "2026-06-30", "--output", "scores.csv", "-v"], work),
        run(["report", "--output", "report", "-v"], work),
        run(["explain", *files, "--lead-id", lead, "--as-of", "2026-06-30"], work),
    ]
    stored = [work / "mlflow.db", *(p for p in (work / "mlruns").rglob("*") if p.is_file())]
    assert len(stored) > 30  # the store, run artifacts, the model's files, the report
    assert any(p.name == "input_example.json" for p in stored)
    assert any(p.name == "model.json" for p in stored)
    leaks = {str(p.relative_to(work)): found_in(p.read_bytes(), secrets) for p in stored}
    console = "".join(done.stdout + done.stderr for done in outputs)
    leaks["console"] = found_in(console.encode(), secrets)
    assert {where: what for where, what in leaks.items() if what} == {}

    # The columns were seen and dropped for what they are, with a note (not silently).
    log = outputs[0].stderr
    for column in ("first_name", "LastName", "Contact Name", "phone", "MobilePhone", "notes"):
        assert re.search(rf"Column '{column}' is not used: personal data", log), column
    assert re.search(r"Column 'assistant' is not used: personal data: e-mail", log)
    # The scores themselves are the user's output; they hold ids, scores and reasons only.
    scores = pd.read_csv(work / "scores.csv", keep_default_na=False)
    assert len(scores) > 50 and not found_in(scores.to_csv().encode(), secrets)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("first_name", "names"), ("FirstName", "names"), ("Contact Name", "names"),
        ("Name", "names"), ("MobilePhone", "phone numbers"), ("Phone Number", "phone numbers"),
        ("secondary_email", "e-mail addresses"), ("PostalCode", "addresses"),
        ("Notes", "free text"), ("company_name", None), ("Campaign Name", None),
        ("lead_source", None), ("TotalVisits", None), ("Last Notable Activity", None),
    ],
)  # fmt: skip
def test_personal_fields_by_name(name: str, expected: str | None) -> None:
    assert personal_field(name) == expected


def test_a_channel_flag_is_not_the_channel() -> None:
    """ "Do Not Email" (yes/no) is a consent flag and a fair feature; a column of e-mail
    addresses under any name is personal data."""
    flag = pd.Series(["Yes", "No", "No", "Yes"] * 30, name="Do Not Email")
    assert infer_role(flag, 30).role == Role.CATEGORICAL
    hidden = pd.Series([f"person{i % 7}@example.org" for i in range(120)], name="contact")
    role = infer_role(hidden, 30)
    assert role.role == Role.IGNORE and "e-mail" in role.reason
