"""Reading and validating the contract's tables: every bad input names file, column, rows
and what was expected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.pipelines.config import Config, ConfigError, load_config
from leadscore.pipelines.tables import InputError, load_tables, parse_as_of


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
