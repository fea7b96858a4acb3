"""Reading and validating the contract's tables: every bad input names file, column, rows
and what was expected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.pipelines.config import Config, ConfigError, load_config
from leadscore.pipelines.io.tables import (
    InputError,
    LeadFaults,
    load_tables,
    parse_as_of,
    prepare_tables,
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


LEADS = "lead_id,created_at,outcome,closed_at\nA,2025-01-01,won,2025-02-01\nB,2025-01-02,lost,2025-02-03\nC,2025-01-03,,\n"
ACTS = "lead_id,occurred_at,activity_type,value\nA,2025-01-05,page_view,10\n"


def test_reads_valid_tables(tmp_path: Path, config: Config) -> None:
    tables = load_tables(write(tmp_path / "l.csv", LEADS), write(tmp_path / "a.csv", ACTS), config)
    assert list(tables.leads["lead_id"]) == ["A", "B", "C"]
    assert tables.leads["outcome"].tolist()[:2] == ["won", "lost"]
    assert pd.isna(tables.leads["outcome"].iloc[2])
    assert str(tables.leads["created_at"].dt.tz) == "UTC"
    assert tables.fingerprint["leads"]["rows"] == 3
    assert len(tables.fingerprint["leads"]["sha256"]) == 64


def test_missing_file(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        load_tables(tmp_path / "nope.csv", None, config)


def test_empty_file(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        load_tables(write(tmp_path / "l.csv", ""), None, config)


def test_header_only(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError, match="has a header but no rows"):
        load_tables(write(tmp_path / "l.csv", "lead_id,outcome\n"), None, config)


def test_missing_required_column(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError, match="column 'lead_id': required column is missing") as err:
        load_tables(write(tmp_path / "l.csv", "id,outcome\n1,won\n"), None, config)
    assert "l.csv" in str(err.value)
    assert "columns:" in str(err.value)  # tells how to map it


def test_missing_activity_column(tmp_path: Path, config: Config) -> None:
    acts = write(tmp_path / "a.csv", "lead_id,when,activity_type\nA,2025-01-05,page_view\n")
    with pytest.raises(
        InputError, match=r"a\.csv: column 'occurred_at': required column is missing"
    ):
        load_tables(write(tmp_path / "l.csv", LEADS), acts, config)


def test_unparsable_timestamp_names_rows(tmp_path: Path, config: Config) -> None:
    text = LEADS.replace("2025-01-02,lost", "02/01/2025,lost").replace(
        "C,2025-01-03", "C,yesterday"
    )
    with pytest.raises(InputError) as err:
        load_tables(write(tmp_path / "l.csv", text), None, config)
    message = str(err.value)
    assert "column 'created_at': unparsable timestamp at data row 2, 3" in message
    assert "'02/01/2025'" in message and "ISO 8601" in message


def test_unparsable_activity_timestamp(tmp_path: Path, config: Config) -> None:
    acts = write(tmp_path / "a.csv", ACTS + "B,not a date,page_view,1\n")
    with pytest.raises(
        InputError, match=r"column 'occurred_at': unparsable timestamp at data row 2"
    ):
        load_tables(write(tmp_path / "l.csv", LEADS), acts, config)


def test_duplicate_lead_id(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError, match=r"duplicate lead id at data row 1, 4.*found 'A'"):
        load_tables(write(tmp_path / "l.csv", LEADS + "A,2025-01-09,,\n"), None, config)


def test_empty_lead_id(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError, match=r"empty lead id at data row 4"):
        load_tables(write(tmp_path / "l.csv", LEADS + " ,2025-01-09,,\n"), None, config)


def test_unknown_outcome(tmp_path: Path, config: Config) -> None:
    with pytest.raises(InputError) as err:
        load_tables(write(tmp_path / "l.csv", LEADS.replace("lost", "maybe")), None, config)
    message = str(err.value)
    assert "column 'outcome': unknown outcome value at data row 2" in message
    assert "'maybe'" in message and "outcome_values:" in message


def test_closed_before_created(tmp_path: Path, config: Config) -> None:
    text = LEADS.replace("A,2025-01-01,won,2025-02-01", "A,2025-03-01,won,2025-02-01")
    with pytest.raises(InputError, match=r"closed before it was created at data row 1"):
        load_tables(write(tmp_path / "l.csv", text), None, config)


def test_malformed_as_of() -> None:
    with pytest.raises(InputError, match=r"--as-of: cannot read '2025-13-45'"):
        parse_as_of("2025-13-45")
    assert parse_as_of("2025-01-02") == pd.Timestamp("2025-01-02", tz="UTC")
    assert parse_as_of("2025-01-02T01:00:00+01:00") == pd.Timestamp("2025-01-02", tz="UTC")


def test_outcome_spellings_are_mapped(tmp_path: Path, config: Config) -> None:
    text = "lead_id,outcome\n1,Closed Won\n2, closed lost \n3,1\n4,0\n5,\n6,Converted\n"
    tables = load_tables(write(tmp_path / "l.csv", text), None, config)
    assert tables.leads["outcome"].fillna("open").tolist() == [
        "won", "lost", "won", "lost", "open", "won",
    ]  # fmt: skip


def test_config_maps_columns_and_outcomes(tmp_path: Path) -> None:
    cfg_path = write(
        tmp_path / "c.yaml",
        "columns:\n  leads: {Id: lead_id, Created: created_at, Status: outcome}\n"
        "  activities: {Contact: lead_id, When: occurred_at, Type: activity_type}\n"
        "outcome_values:\n  won: [Kunde]\n  lost: [Abgesagt]\n",
    )
    cfg = load_config(cfg_path)
    leads = write(
        tmp_path / "l.csv", "Id;Created;Status\n1;2025-01-01;Kunde\n2;2025-01-02;abgesagt\n"
    )
    acts = write(tmp_path / "a.csv", "Contact\tWhen\tType\n1\t2025-01-03\tPage View\n")
    tables = load_tables(leads, acts, cfg)
    assert tables.leads["outcome"].tolist() == ["won", "lost"]
    assert tables.activities is not None
    assert tables.activities["activity_type"].tolist() == ["page_view"]


def test_bad_config_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"thresholds\.sql: .*target between 0 and 1"):
        load_config(
            write(tmp_path / "c.yaml", "thresholds:\n  sql: {policy: win_rate, target: 3}\n")
        )
    with pytest.raises(ConfigError, match=r"nonsense"):
        load_config(write(tmp_path / "c.yaml", "nonsense: 1\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_bom_latin1_and_semicolons(tmp_path: Path, config: Config) -> None:
    text = "lead_id;created_at;job_title\nA;2025-01-01;Geschäftsführer\n"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_tables(bom, None, config).leads.columns[0] == "lead_id"
    latin = write(tmp_path / "latin.csv", text, encoding="latin-1")
    assert load_tables(latin, None, config).leads["job_title"].iloc[0] == "Geschäftsführer"


def test_parquet_input(tmp_path: Path, config: Config) -> None:
    frame = pd.DataFrame(
        {
            "lead_id": ["A", "B"],
            "created_at": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
            "outcome": ["won", None],
        }
    )
    frame.to_parquet(tmp_path / "l.parquet")
    tables = load_tables(tmp_path / "l.parquet", None, config)
    assert tables.leads["outcome"].iloc[0] == "won"
    assert pd.isna(tables.leads["outcome"].iloc[1])


def test_activities_outside_the_contract_are_left_out_and_reported(
    tmp_path: Path, config: Config
) -> None:
    acts = write(
        tmp_path / "a.csv",
        "lead_id,occurred_at,activity_type,value\n"
        "A,2025-01-05,page_view,10\n"
        "ZZ,2025-01-05,page_view,10\n"  # unknown lead
        "A,2024-12-31,ad_click,\n"  # before created_at
        "A,2025-01-05,page_view,10\n"  # exact duplicate
        "B,2025-01-06, ,\n"  # no type
        "B,2025-01-06,email_open,abc\n",  # bad value: kept, value missing
    )
    tables = load_tables(write(tmp_path / "l.csv", LEADS), acts, config)
    assert tables.activities is not None
    assert len(tables.activities) == 2
    assert pd.isna(tables.activities["value"].iloc[1])
    reasons = dict(zip(tables.rejects["row"], tables.rejects["reason"], strict=True))
    assert reasons == {
        2: "lead_id not found in leads",
        3: "occurred before the lead's created_at",
        4: "exact duplicate of an earlier row",
        5: "empty activity_type",
    }


def test_example_config_documents_the_defaults() -> None:
    """configs/example.yaml lists every key with its default; it must stay true."""
    example = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"
    assert load_config(example) == Config()


# -- row-level faults of the leads table: set aside up to export.max_rejected_share ----------


def leads_frame(n: int = 200) -> pd.DataFrame:
    """``n`` clean leads as an export has them (text cells): won, lost and open ones."""
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_at": [f"2025-01-{1 + i % 28:02d}" for i in range(n)],
            "outcome": [("won", "lost", "")[i % 3] for i in range(n)],
            "closed_at": [("2025-03-01", "2025-03-02", "")[i % 3] for i in range(n)],
        }
    )


# (column, bad value, reason in the rejects, problem in the message)
ROW_FAULTS = {
    "empty id": ("lead_id", " ", "empty lead id", "column 'lead_id': empty lead id"),
    "unparsable created_at": (
        "created_at", "02/01/2025", "unparsable timestamp in created_at",
        "column 'created_at': unparsable timestamp",
    ),
    "unparsable closed_at": (
        "closed_at", "soon", "unparsable timestamp in closed_at",
        "column 'closed_at': unparsable timestamp",
    ),
    "unknown outcome": (
        "outcome", "maybe", "unknown outcome value", "column 'outcome': unknown outcome value"
    ),
    "closed before created": (
        "closed_at", "2024-12-31", "closed before it was created",
        "column 'closed_at': closed before it was created",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ROW_FAULTS))
def test_one_bad_row_in_200_is_set_aside_with_its_reason(case: str, config: Config) -> None:
    column, value, reason, _ = ROW_FAULTS[case]
    leads = leads_frame()
    leads.loc[42, column] = value  # a won lead: data row 43
    tables = prepare_tables(leads, None, config)
    assert tables.lead_rejects.to_dict("records") == [
        {"source": "leads", "row": 43, "lead_id": leads.loc[42, "lead_id"].strip(),
         "reason": reason}
    ]  # fmt: skip
    assert len(tables.leads) == 199 and "L42" not in set(tables.leads["lead_id"])
    assert tables.leads["outcome"].isin(["won", "lost"]).sum() == 133  # the rest validated
    assert str(tables.leads["created_at"].dt.tz) == "UTC"
    assert tables.lead_faults.rows == 200 and tables.lead_faults.rejected == 1


def test_a_duplicate_id_rejects_every_row_of_that_id(config: Config) -> None:
    leads = leads_frame()
    leads.loc[150, "lead_id"] = "L7"  # 2 of 200 rows: 1%, still within the default
    tables = prepare_tables(leads, None, config)
    assert tables.lead_rejects[["row", "lead_id", "reason"]].values.tolist() == [
        [8, "L7", "duplicate lead id"],
        [151, "L7", "duplicate lead id"],
    ]
    assert "L7" not in set(tables.leads["lead_id"]) and len(tables.leads) == 198


def test_five_bad_rows_in_200_stop_the_job_naming_the_rows(config: Config) -> None:
    leads = leads_frame()
    for i in (3, 60, 61, 130, 199):
        leads.loc[i, "closed_at"] = "2024-12-31"
    with pytest.raises(InputError) as err:
        prepare_tables(leads, None, config)
    message = str(err.value)
    assert (
        "leads: column 'closed_at': closed before it was created at data row 4, 61, 62, 131, "
        "200 (row 1 = first row after the header); expected closed_at at or after created_at"
    ) in message
    assert "5 of 200 rows have row-level faults (2.5%)" in message
    assert "max_rejected_share" in message
    assert err.value.rows == [4, 61, 62, 131, 200]


def test_max_rejected_share_lets_more_bad_rows_through(tmp_path: Path) -> None:
    leads = leads_frame()
    for i in (3, 60, 61, 130, 199):
        leads.loc[i, "closed_at"] = "2024-12-31"
    leads.to_csv(tmp_path / "l.csv", index=False)
    cfg = load_config(write(tmp_path / "c.yaml", "export:\n  max_rejected_share: 0.05\n"))
    tables = load_tables(tmp_path / "l.csv", None, cfg)
    assert tables.lead_rejects["row"].tolist() == [4, 61, 62, 131, 200]
    assert set(tables.lead_rejects["reason"]) == {"closed before it was created"}
    assert len(tables.leads) == 195
    assert tables.fingerprint["leads"]["rows"] == 200
    assert tables.fingerprint["leads"]["rejected"] == 5
    strict = Config.model_validate({"export": {"max_rejected_share": 0.0}})
    with pytest.raises(InputError, match="closed before it was created at data row 4, 61"):
        load_tables(tmp_path / "l.csv", None, strict)


def test_the_first_kind_of_fault_is_named_and_every_kind_counted(config: Config) -> None:
    leads = leads_frame()
    leads.loc[[5, 6], "outcome"] = "perhaps"
    leads.loc[9, "created_at"] = "yesterday"
    leads.loc[9, "outcome"] = "perhaps"  # two faults in one row: one row rejected
    with pytest.raises(InputError) as err:
        prepare_tables(leads, None, config)
    message = str(err.value)
    assert "column 'created_at': unparsable timestamp at data row 10" in message
    assert "found 'yesterday'" in message
    assert "3 of 200 rows have row-level faults (1.5%)" in message
    assert "1 unparsable timestamp in created_at, 3 unknown outcome value" in message
    lenient = Config.model_validate({"export": {"max_rejected_share": 0.02}})
    rejects = prepare_tables(leads, None, lenient).lead_rejects
    assert rejects[["row", "reason"]].values.tolist() == [
        [6, "unknown outcome value"],
        [7, "unknown outcome value"],
        [10, "unparsable timestamp in created_at; unknown outcome value"],
    ]


def test_activities_of_a_rejected_lead_are_rejected_with_the_reason(config: Config) -> None:
    leads = leads_frame()
    leads.loc[10, "closed_at"] = "2024-12-31"
    activities = pd.DataFrame(
        {
            "lead_id": ["L10", "L11", "ghost"],
            "occurred_at": ["2025-01-20"] * 3,
            "activity_type": ["page_view"] * 3,
        }
    )
    tables = prepare_tables(leads, activities, config)
    assert tables.activities is not None and len(tables.activities) == 1
    assert tables.rejects[["row", "lead_id", "reason"]].values.tolist() == [
        [3, "ghost", "lead_id not found in leads"],
        [1, "L10", "its lead was rejected"],
    ]


def test_chunks_judge_the_share_over_the_whole_table(config: Config) -> None:
    """A chunk sets its faults aside (``judge=False``); the faults added up over the chunks
    give the whole table's verdict and message."""
    leads = leads_frame()
    for i in (3, 60):
        leads.loc[i, "closed_at"] = "2024-12-31"
    halves = [leads.iloc[:100], leads.iloc[100:]]
    whole = prepare_tables(leads, None, config).lead_faults
    assert whole.rejected == 2  # 1% of 200: within the tolerance
    with pytest.raises(InputError):  # 2% of the first half alone
        prepare_tables(halves[0], None, config, allow_no_leads=True)
    parts = [prepare_tables(h, None, config, judge=False).lead_faults for h in halves]
    total = parts[0] + parts[1]
    assert (total.rows, total.rejected) == (200, 2)
    total.check("leads", config.export.max_rejected_share)  # no error
    leads.loc[150, "closed_at"] = "2024-12-31"
    parts = [prepare_tables(h, None, config, judge=False).lead_faults for h in halves[:1]]
    parts.append(prepare_tables(leads.iloc[100:], None, config, judge=False).lead_faults)
    with pytest.raises(InputError, match="closed before it was created at data row 4, 61, 151"):
        (parts[1] + parts[0]).check("leads", config.export.max_rejected_share)


def test_faults_from_rejects_give_the_same_verdict(config: Config) -> None:
    """The Spark engine keeps only the rejects of its buckets: the same faults from them."""
    leads = leads_frame()
    leads.loc[[3, 60, 61], "closed_at"] = "2024-12-31"
    leads.loc[8, "outcome"] = "maybe"
    lenient = Config.model_validate({"export": {"max_rejected_share": 0.5}})
    tables = prepare_tables(leads, None, lenient)
    again = LeadFaults.from_rejects(tables.lead_rejects, 200, config.outcome_values)
    assert [(f.fault, f.rows.tolist()) for f in again.found] == [
        (f.fault, f.rows.tolist()) for f in tables.lead_faults.found
    ]
    with pytest.raises(InputError, match=r"unknown outcome value at data row 9 \(row 1"):
        again.check("leads", config.export.max_rejected_share)


@pytest.mark.integration
def test_train_sets_aside_a_lead_closed_before_it_was_created(
    tmp_path: Path, mlflow_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from mlflow.tracking import MlflowClient

    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.synthetic import generate, write_world
    from leadscore.pipelines.train import train

    write_world(generate(1500, seed=3), tmp_path / "world")
    path = tmp_path / "world" / "leads.csv"
    leads = pd.read_csv(path, dtype=str, keep_default_na=False)
    closed = leads.index[leads["closed_at"] != ""][10]
    leads.loc[closed, "closed_at"] = "2020-01-01T00:00:00Z"  # before every creation
    leads.to_csv(path, index=False)

    tracking.configure_tracking()
    handler = caplog.handler  # the CLI may have stopped "leadscore" records at its logger
    logging.getLogger("leadscore.pipelines.io.tables").addHandler(handler)
    try:
        result = train(path, tmp_path / "world" / "activities.csv", Config.model_validate(
            {"backtest": {"folds": 0}}
        ))  # fmt: skip
    finally:
        logging.getLogger("leadscore.pipelines.io.tables").removeHandler(handler)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        f"1 rows set aside as rejects: 1 closed before it was created (data row {closed + 1})" in w
        for w in warnings
    ), warnings

    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.data.metrics["leads_rejected"] == 1
    local = client.download_artifacts(result.run_id, "rejects/leads_rejects.csv", str(tmp_path))
    rejects = pd.read_csv(local, dtype=str)
    assert rejects.to_dict("records") == [
        {"source": str(path), "row": str(closed + 1), "lead_id": leads.loc[closed, "lead_id"],
         "reason": "closed before it was created"}
    ]  # fmt: skip


# -- the reading sections stored with a model ---------------------------------------------------


def test_config_for_model_reads_with_the_stored_sections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from leadscore.pipelines.io.tables import config_for_model, reading_of

    trained = Config.model_validate(
        {
            "columns": {"leads": {"Record ID": "lead_id", "Lead Status": "outcome"}},
            "outcome_values": {"won": ["Customer"], "lost": ["Unqualified"]},
            "export": {"row_order_is_time": True},
            "scoring": {"chunk_leads": 10},
        }
    )
    stored = reading_of(trained)
    assert set(stored) == {"columns", "outcome_values", "export"}
    logger = logging.getLogger("leadscore.pipelines.io.tables")
    logger.addHandler(caplog.handler)
    try:
        read = config_for_model(None, stored, "m/1")  # no config: the model's sections
        assert (read.columns, read.outcome_values, read.export) == (
            trained.columns, trained.outcome_values, trained.export,
        )  # fmt: skip
        assert read.scoring == Config().scoring  # the rest: defaults
        assert config_for_model(trained, stored, "m/1") is trained
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

        given = trained.model_copy(update={"columns": Config().columns, "export": Config().export})
        assert config_for_model(given, stored, "m/1") is given  # the config's own, but:
        warning = caplog.records[-1].getMessage()
        assert "reads the export differently from m/1" in warning
        assert "columns.leads.Lead Status, columns.leads.Record ID, export.row_order_is_time" in (
            warning
        )

        assert config_for_model(None, None, "old/3") == Config()  # stored before it was kept
        assert "old/3 carries no column mapping" in caplog.records[-1].getMessage()
        assert config_for_model(trained, None, "old/3") is trained
    finally:
        logger.removeHandler(caplog.handler)
    with pytest.raises(ConfigError, match=r"m/2: the column mapping stored with the model"):
        config_for_model(None, {"export": {"from_the_future": 1}}, "m/2")
