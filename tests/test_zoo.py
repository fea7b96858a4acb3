"""The export zoo: the generated world rendered as HubSpot, Salesforce, Marketo, Pipedrive,
flat and German exports, each with the traps real exports have; and the zero-edit path
(`inspect` -> starter config -> `train`) on every one of them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from leadscore.features import schema
from leadscore.features.timeutil import parse_utc
from leadscore.pipelines.activity_columns import guess_activity_columns
from leadscore.pipelines.cli import app
from leadscore.pipelines.config import Config
from leadscore.pipelines.dialects import (
    CANONICAL,
    DIALECTS,
    dialect,
    leak_columns,
    mapping,
    reference_leads,
    render,
    salesforce_id,
    write_export,
)
from leadscore.pipelines.io.tables import Tables, load_tables
from leadscore.pipelines.synthetic import World, generate, write_world

runner = CliRunner()
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def world() -> World:
    return generate(600, seed=4)


def _read(path: Path, name: str) -> pd.DataFrame:
    d = dialect(name)
    return pd.read_csv(path, dtype=str, keep_default_na=False, sep=d.sep, encoding=d.encoding)


def _closed(world: World) -> tuple[np.ndarray, np.ndarray]:
    status = world.leads[schema.OUTCOME].to_numpy()
    return status != "", status == schema.WON


def _auc_alone(values: pd.Series, closed: np.ndarray, won: np.ndarray) -> float:
    auc = float(roc_auc_score(won[closed], values.to_numpy(dtype=float)[closed]))
    return max(auc, 1 - auc)


# -- canonical and the command line ------------------------------------------------------


def test_canonical_dialect_is_write_world_byte_for_byte(world: World, tmp_path: Path) -> None:
    write_world(world, tmp_path / "a", with_truth=True)
    write_export(world, tmp_path / "b", CANONICAL, with_truth=True)
    for name in ("leads.csv", "activities.csv", "truth.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_generate_command_dialects(tmp_path: Path) -> None:
    args = ["generate", "--leads", "200", "--seed", "9", "-q"]
    default = runner.invoke(app, [*args, "--out", str(tmp_path / "default")])
    assert default.exit_code == 0, default.output
    write_world(generate(200, seed=9), tmp_path / "expected")
    for name in ("leads.csv", "activities.csv"):
        expected = (tmp_path / "expected" / name).read_bytes()
        assert (tmp_path / "default" / name).read_bytes() == expected, name

    hubspot = runner.invoke(app, [*args, "--out", str(tmp_path / "hs"), "--dialect", "hubspot"])
    assert hubspot.exit_code == 0, hubspot.output
    assert "Record ID" in _read(tmp_path / "hs" / "leads.csv", "hubspot").columns

    flat = runner.invoke(app, [*args, "--out", str(tmp_path / "flat"), "--dialect", "flat"])
    assert flat.exit_code == 0, flat.output
    assert not (tmp_path / "flat" / "activities.csv").exists()  # engagement is in the columns

    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--dialect", "zoho"])
    assert bad.exit_code == 2
    assert "zoho" in bad.output and "hubspot" in bad.output
    assert not (tmp_path / "x").exists()


# -- every dialect is the same world ---------------------------------------------------------

HEADERS = {
    "hubspot": (
        {"Record ID", "Create Date", "Lead Status", "Lead Status Date", "Original Source",
         "Industry", "Number of Employees", "Country/Region", "Job Title", "Email",
         "First Name", "Last Name"},
        {"Contact ID", "Activity Date", "Activity Type", "Duration (s)"},
    ),
    "salesforce": (
        {"Lead ID", "Created Date", "Lead Status", "Converted Date", "Rating"},
        {"Lead ID", "Activity Type"},
    ),
    "marketo": ({"Lead Score", "Lifecycle Stage", "Email Address"}, {"Lead Id", "Activity Date"}),
    "pipedrive": ({"Status", "Won time", "Lost time", "Lost reason"}, {"Deal ID", "Type"}),
    "flat": (
        {"Prospect ID", "Converted", "TotalVisits", "Pricing Page Views", "Webinars Attended",
         "Do Not Email", "Do Not Call", "Region_DACH", "Search", "Through Recommendations"},
        set(),
    ),
    "german": (
        {"Lead-ID", "Erstellt am", "Status", "Abschlussdatum", "Quelle", "Branche",
         "Mitarbeiterzahl", "Land", "Position", "E-Mail"},
        {"Lead-ID", "Zeitpunkt", "Aktivitätstyp", "Dauer (Sek.)"},
    ),
}  # fmt: skip


def _tables(folder: Path, config: Config) -> Tables:
    acts = folder / "activities.csv"
    return load_tables(folder / "leads.csv", acts if acts.exists() else None, config)


@pytest.mark.parametrize("name", DIALECTS)
def test_every_dialect_reads_back_into_the_same_contract_tables(
    name: str, world: World, tmp_path: Path
) -> None:
    """Mapped by the dialect's own column names, with the default outcome spellings, every
    export is the canonical one: the same leads, outcomes, instants, attributes, activities."""
    write_export(world, tmp_path / CANONICAL, CANONICAL)
    write_export(world, tmp_path / name, name, with_truth=True)
    d = dialect(name)
    leads_header = set(_read(tmp_path / name / "leads.csv", name).columns)
    assert leads_header == {h for h, _ in d.leads}
    if name in HEADERS:
        assert HEADERS[name][0] <= leads_header
        if HEADERS[name][1]:
            acts_header = set(_read(tmp_path / name / "activities.csv", name).columns)
            assert HEADERS[name][1] <= acts_header

    canonical = _tables(tmp_path / CANONICAL, Config())
    columns = Config.model_validate({"columns": mapping(name)})
    mapped = _tables(tmp_path / name, columns)
    truth = pd.read_csv(tmp_path / name / "truth.csv", dtype=str, keep_default_na=False)
    to_canonical = dict(zip(truth[schema.LEAD_ID], world.truth[schema.LEAD_ID], strict=True))
    leads = mapped.leads.assign(**{schema.LEAD_ID: mapped.leads[schema.LEAD_ID].map(to_canonical)})
    leads = leads.set_index(schema.LEAD_ID).loc[canonical.leads[schema.LEAD_ID]].reset_index()
    minutes = d.timestamps == "minutes"  # HubSpot writes no seconds
    for column in (*schema.LEAD_REQUIRED, schema.OUTCOME, *schema.WELL_KNOWN):
        pd.testing.assert_series_equal(leads[column], canonical.leads[column], check_names=False)
    for column in (schema.CREATED_AT, schema.CLOSED_AT):
        expected = canonical.leads[column].dt.floor("min") if minutes else canonical.leads[column]
        pd.testing.assert_series_equal(leads[column], expected, check_names=False)

    if not d.activities:
        assert mapped.activities is None
        return
    assert canonical.activities is not None and mapped.activities is not None
    theirs = mapped.activities.assign(
        **{schema.LEAD_ID: mapped.activities[schema.LEAD_ID].astype(str).map(to_canonical)}
    )
    ours = canonical.activities.assign(
        **{schema.LEAD_ID: canonical.activities[schema.LEAD_ID].astype(str)}
    )
    if minutes:
        ours[schema.OCCURRED_AT] = ours[schema.OCCURRED_AT].dt.floor("min")
    key = [schema.LEAD_ID, schema.OCCURRED_AT, schema.ACTIVITY_TYPE, schema.VALUE]

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[key].astype({schema.ACTIVITY_TYPE: str})
        return frame.sort_values(key, na_position="first").reset_index(drop=True)

    if minutes:  # rows that became exact duplicates at minute precision are dropped
        ours = ours.drop_duplicates(key)
        theirs = theirs.drop_duplicates(key)
    pd.testing.assert_frame_equal(ordered(theirs), ordered(ours))
    assert set(mapped.rejects["reason"]) == set(canonical.rejects["reason"])


def test_ids_look_like_the_crm_they_imitate(world: World) -> None:
    n = len(world.leads)
    sf = render(world, "salesforce").leads["Lead ID"]
    assert sf.str.fullmatch(r"00Q[0-9A-Za-z]{15}").all()
    assert all(salesforce_id(x[:15]) == x for x in sf)  # the real case-insensitive checksum
    assert sf.str.lower().nunique() == n  # unique even compared case-insensitively
    assert render(world, "german").leads["Lead-ID"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert render(world, "flat").leads["Prospect ID"].str.fullmatch(UUID).all()
    hubspot = render(world, "hubspot")
    record = pd.Series(hubspot.leads["Record ID"])
    assert record.is_monotonic_increasing and record.is_unique  # numbers in creation order
    assert hubspot.activities is not None
    unknown = ~hubspot.activities["Contact ID"].isin(record)
    assert (
        unknown.sum() == (~world.activities[schema.LEAD_ID].isin(world.leads[schema.LEAD_ID])).sum()
    )


def test_timestamps_are_iso_the_product_parses(world: World) -> None:
    examples = {
        "hubspot": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
        "salesforce": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000",
        "pipedrive": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
        "german": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0[12]:00",
    }
    for name, pattern in examples.items():
        created = dict(dialect(name).leads)
        header = next(h for h, s in created.items() if s == schema.CREATED_AT)
        values = render(world, name).leads[header]
        assert values.str.fullmatch(pattern).all(), name
        assert parse_utc(values).notna().all(), name
    berlin = render(world, "german").leads["Erstellt am"]
    assert {"+01:00", "+02:00"} <= set(berlin.str[-6:])  # winter and summer time


def test_german_export_is_written_as_german_excel_writes_it(world: World, tmp_path: Path) -> None:
    write_export(world, tmp_path, "german")
    raw = (tmp_path / "leads.csv").read_bytes()
    assert raw.startswith(b"Lead-ID;Vorname;")
    assert b"\r\n" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # Windows-1252: the reader falls back to Latin-1
    assert "Geschäftsführer".encode("cp1252") in raw or "ä".encode("cp1252") in raw
    statuses = set(_read(tmp_path / "leads.csv", "german")["Status"])
    assert statuses == {"Gewonnen", "Verloren", "Offen"}


def test_activity_types_keep_their_words(world: World) -> None:
    spelled = {
        "hubspot": "PRICING_PAGE_VIEW",
        "salesforce": "Pricing Page View",
        "marketo": "Pricing page view",
        "pipedrive": "pricing-page-view",
    }
    for name, spelling in spelled.items():
        activities = render(world, name).activities
        assert activities is not None
        header = next(h for h, s in dialect(name).activities if s == schema.ACTIVITY_TYPE)
        assert spelling in set(activities[header]), name


# -- planted columns behave as described -----------------------------------------------------


def test_won_and_lost_dates_are_filled_exactly_for_their_outcome(world: World) -> None:
    closed, won = _closed(world)
    lost = closed & ~won
    for name, column, filled_for in (
        ("hubspot", "Became a Customer Date", won),
        ("salesforce", "Converted Date", won),
        ("pipedrive", "Won time", won),
        ("pipedrive", "Lost time", lost),
        ("pipedrive", "Lost reason", lost),
        ("german", "Auftragswert (EUR)", won),
    ):
        values = render(world, name).leads[column]
        np.testing.assert_array_equal((values != "").to_numpy(), filled_for, err_msg=column)
        assert column in leak_columns(name)
    value = render(world, "german").leads["Auftragswert (EUR)"]
    assert value[value != ""].str.fullmatch(r"\d+,00").all()  # a decimal comma


def test_sales_verdicts_and_vendor_scores_give_the_outcome_away(world: World) -> None:
    closed, won = _closed(world)
    sf = render(world, "salesforce").leads
    rating = sf["Rating"].map({"Hot": 3, "Warm": 2, "Cold": 1, "": 0})
    assert _auc_alone(rating, closed, won) >= 0.8
    assert set(sf["Rating"]) == {"Hot", "Warm", "Cold", ""}
    sales = world.activities[schema.ACTIVITY_TYPE].str.strip().str.lower()
    touched_ids = set(world.activities.loc[sales.isin(["meeting", "sales_call"]), schema.LEAD_ID])
    touched = world.leads[schema.LEAD_ID].isin(touched_ids).to_numpy()
    rated = (sf["Rating"] != "").to_numpy()
    assert rated[touched].mean() > 0.8 > 0.2 > rated[~touched].mean()  # set on leads sales touched

    marketo = render(world, "marketo").leads
    assert _auc_alone(marketo["Lead Score"], closed, won) >= 0.9
    updated = parse_utc(marketo["Updated At"])
    assert (updated >= parse_utc(marketo["Created At"])).all()
    closed_at = parse_utc(marketo["Lifecycle Stage Date"])
    assert (updated[closed] >= closed_at[closed]).all()
    # won leads keep using the product after the close: their record moves on much later
    gap = (updated - closed_at).dt.total_seconds()
    assert gap[won].median() > 10 * 86400 > gap[closed & ~won].median()

    stage = render(world, "pipedrive").leads["Stage"]
    order = {"Qualified": 1, "Contact Made": 2, "Demo Scheduled": 3, "Proposal Made": 4}
    assert _auc_alone(stage.map(order | {"Negotiations Started": 5}), closed, won) >= 0.9

    tags = render(world, "flat").leads["Tags"]
    assert set(tags[tags == "Closed by Sales"].index) <= set(np.flatnonzero(won))
    assert set(leak_columns("flat")) == {"Tags"}
    assert set(leak_columns("salesforce")) == {"Converted Date", "Rating"}
    assert set(leak_columns("marketo")) == {"Updated At", "Lead Score"}
    assert leak_columns(CANONICAL) == ()


def test_flat_export_counts_engagement_up_to_each_close(world: World) -> None:
    flat = render(world, "flat").leads
    ids = world.leads[schema.LEAD_ID]
    cutoff = pd.Series(
        pd.to_datetime(world.leads[schema.CLOSED_AT], utc=True).fillna(world.now).to_numpy(),
        index=ids,
    )
    acts = world.activities
    opens = acts[acts[schema.ACTIVITY_TYPE].str.strip().str.lower() == "email_open"]
    before = opens[opens[schema.OCCURRED_AT].to_numpy() < opens[schema.LEAD_ID].map(cutoff)]
    expected = before.groupby(schema.LEAD_ID).size().reindex(ids, fill_value=0).to_numpy()
    np.testing.assert_array_equal(flat["Emails Opened"].to_numpy(), expected)
    # won leads keep opening e-mails after the close: counted at export time, that would leak
    all_time = opens.groupby(schema.LEAD_ID).size().reindex(ids, fill_value=0).to_numpy()
    _, won = _closed(world)
    assert (all_time[won] > expected[won]).mean() > 0.9
    assert (all_time[~won] == expected[~won]).mean() > 0.9

    for column in ("Do Not Email", "Do Not Call", "Region_DACH"):
        assert set(flat[column].astype(str)) == {"0", "1"}, column
    assert set(flat["Converted"]) == {"0", "1", ""}
    for column in ("Search", "Through Recommendations"):
        assert set(flat[column]) == {"Yes", "No"}, column
    assert pd.Series(flat["Lead Number"]).is_unique


def test_flat_reference_is_the_flat_table_under_contract_names(world: World) -> None:
    reference = reference_leads(world, "flat")
    flat = render(world, "flat").leads
    assert {schema.LEAD_ID, schema.OUTCOME, schema.CREATED_AT, schema.CLOSED_AT} <= set(
        reference.columns
    )
    assert "Tags" not in reference.columns and "Converted" not in reference.columns
    pd.testing.assert_series_equal(reference["TotalVisits"], flat["TotalVisits"])
    assert set(reference[schema.OUTCOME]) == {schema.WON, schema.LOST, ""}
    assert list(reference[schema.LEAD_ID]) == list(world.leads[schema.LEAD_ID])


def test_same_world_same_export(world: World, tmp_path: Path) -> None:
    for name in DIALECTS:
        write_export(world, tmp_path / "a" / name, name)
        write_export(world, tmp_path / "b" / name, name)
        for file in (tmp_path / "a" / name).iterdir():
            assert file.read_bytes() == (tmp_path / "b" / name / file.name).read_bytes(), name


# -- guessing an activities export's columns ---------------------------------------------------


def _activity_frame() -> tuple[pd.DataFrame, pd.Series]:
    leads = pd.Series(["101", "102", "103", "104"])
    acts = pd.DataFrame(
        {
            "Engagement ID": [str(9000 + i) for i in range(12)],
            "Owner": ["Kim", "Lee", "Kim"] * 4,
            "Contact": ["101", "102", "103", "104", "101", "102", "101", "999", "103", "101",
                        "102", "104"],
            "Created": [f"2025-01-0{1 + i % 9}T10:00:00Z" for i in range(12)],
            "Kind": ["PAGE_VIEW", "Email Open", "pricing-page-view", "PAGE_VIEW"] * 3,
            "Seconds": ["30", "", "12", "45", "7", "", "80", "3", "61", "", "19", "27"],
            "Region code": ["1", "2", "1", "1", "2", "1", "1", "2", "1", "1", "2", "1"],
        }
    )  # fmt: skip
    return acts, leads


def test_guess_activity_columns_finds_each_by_its_values() -> None:
    acts, leads = _activity_frame()
    before = acts.copy()
    found, notes = guess_activity_columns(acts, leads)
    assert found == {
        "Contact": schema.LEAD_ID,
        "Created": schema.OCCURRED_AT,
        "Kind": schema.ACTIVITY_TYPE,
        "Seconds": schema.VALUE,
    }
    pd.testing.assert_frame_equal(acts, before)  # inputs untouched
    assert len(notes) == 4
    assert "92% of its values are ids of the leads table" in notes[0]
    assert "'Kind'" in notes[2] and "common activity type" in notes[2] and "'Owner'" in notes[2]
    assert "'Seconds'" in notes[3]


def test_guess_activity_columns_reads_numbers_and_datetimes_as_they_come() -> None:
    acts = pd.DataFrame(
        {
            "lead": [7.0, 8.0, np.nan, 7.0],  # an integer column with a gap, through pandas
            "at": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]),
            "year": ["2024", "2025", "2024", "2025"],  # numbers, not timestamps
            "type": ["demo_request", "page_view", "page_view", "meeting"],
        }
    )
    found, notes = guess_activity_columns(acts, pd.Series([7, 8, 9]))
    assert found == {"lead": schema.LEAD_ID, "at": schema.OCCURRED_AT, "type": schema.ACTIVITY_TYPE}
    assert any("no numeric measurement column" in n for n in notes)  # `year` is a code


def test_guess_activity_columns_says_what_it_could_not_find() -> None:
    acts = pd.DataFrame({"who": ["x", "y"], "what": ["a b c d e f", "g h i j k l"]})
    found, notes = guess_activity_columns(acts, pd.Series(["1", "2"]))
    assert found == {}
    assert [n.split(":")[0] for n in notes] == [
        schema.LEAD_ID,
        schema.OCCURRED_AT,
        schema.ACTIVITY_TYPE,
        schema.VALUE,
    ]
    assert "map it by hand" in notes[0]


# -- the zero-edit path on every dialect (integration) ------------------------------------------

ZOO_LEADS, ZOO_SEED, AUC_TOLERANCE = 1500, 3, 0.01
QUICK = {"backtest": {"folds": 0}}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, dict[str, float]]:
    """One world; the test ROC AUC of a model trained on its canonical export with the
    default config, and on the flat export's table under contract names."""
    from leadscore.pipelines.fitting import fit

    world = generate(ZOO_LEADS, seed=ZOO_SEED)
    folder = tmp_path_factory.mktemp("zoo")
    write_world(world, folder / "canonical")
    quick = Config.model_validate(QUICK)
    canonical = fit(_tables(folder / "canonical", quick), quick, "canonical")
    (folder / "flat").mkdir()
    reference_leads(world, "flat").to_csv(folder / "flat" / "leads.csv", index=False)
    flat = fit(_tables(folder / "flat", quick), quick, "flat reference")
    return world, {"canonical": canonical.metrics["roc_auc"], "flat": flat.metrics["roc_auc"]}


@pytest.mark.integration
@pytest.mark.parametrize("name", DIALECTS)
def test_zero_edit_path_trains_like_the_canonical_export(
    name: str, zoo: tuple[World, dict[str, float]], tmp_path: Path, mlflow_store: str
) -> None:
    """inspect -> starter config -> train, unedited (the activities mapping comes from
    `guess_activity_columns` until inspect writes it, and the backtest is switched off to
    save time): every planted leak is excluded, and the registered model ranks as well as
    one trained on the canonical export."""
    from mlflow.tracking import MlflowClient

    from leadscore.pipelines.config import load_config
    from leadscore.pipelines.inspect import inspect_export, starter_config
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.sources import as_source
    from leadscore.pipelines.train import train

    world, reference = zoo
    export = tmp_path / name
    write_export(world, export, name)
    leads_path = export / "leads.csv"
    acts_path = export / "activities.csv" if (export / "activities.csv").exists() else None
    found = inspect_export(
        as_source(leads_path), as_source(acts_path) if acts_path else None, Config()
    )
    starter = tmp_path / "starter.yaml"
    starter.write_text(starter_config(found), encoding="utf-8")
    data = yaml.safe_load(starter.read_text(encoding="utf-8"))
    columns = data.setdefault("columns", {}) or {}
    data["columns"] = columns
    if acts_path is not None and not columns.get("activities") and found.id_column:
        lead_ids = as_source(leads_path).read()[found.id_column]
        guessed, _ = guess_activity_columns(as_source(acts_path).read(), lead_ids)
        columns["activities"] = guessed
    data.update(QUICK)
    starter.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    problems = []
    config = load_config(starter)
    roles = config.features.column_roles
    for column in leak_columns(name):
        if roles.get(column) != "ignore":
            problems.append(
                f"planted leak {column!r} not excluded by the starter config "
                f"(role {roles.get(column)!r}; inspect leaks: {[x.column for x in found.leaks]})"
            )
    expected = reference["flat" if name == "flat" else "canonical"]
    try:
        tracking.configure_tracking()
        result = train(leads_path, acts_path, config)
    except Exception as exc:  # the report names every problem at once
        problems.append(f"train failed: {type(exc).__name__}: {exc}")
    else:
        run = MlflowClient().get_run(result.run_id)
        auc = run.data.metrics["test_roc_auc"]
        if abs(auc - expected) > AUC_TOLERANCE:
            problems.append(
                f"test ROC AUC {auc:.4f} vs {expected:.4f} on the canonical export "
                f"(outcome {found.outcome_column!r}, id {found.id_column!r}, created "
                f"{found.created_column!r}, closed {found.closed_column!r}, leads mapping "
                f"{config.columns.leads}, leaks found by training {result.leaks})"
            )
    assert not problems, "\n".join(problems)
