"""The command line: every bad input exits with code 2, says what is wrong, writes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from leadscore.pipelines.io import tracking
from tests.conftest import TrainedStore

runner = CliRunner()

GOOD_LEADS = "lead_id,created_at,outcome,closed_at\nA,2025-01-01,won,2025-02-01\nB,2025-01-02,,\n"
GOOD_ACTS = "lead_id,occurred_at,activity_type\nA,2025-01-05,page_view\n"


def files(tmp_path: Path, leads: str | None, acts: str | None = GOOD_ACTS) -> list[str]:
    args = []
    if leads is not None:
        (tmp_path / "leads.csv").write_text(leads)
    args += ["--leads", str(tmp_path / "leads.csv")]
    if acts is not None:
        (tmp_path / "acts.csv").write_text(acts)
        args += ["--activities", str(tmp_path / "acts.csv")]
    return args


BAD_INPUTS = {
    "missing file": (None, GOOD_ACTS, "file not found"),
    "empty file": ("", GOOD_ACTS, "the file is empty"),
    "missing column": ("id,outcome\n1,won\n", GOOD_ACTS, "column 'lead_id': required column is missing"),
    "unparsable timestamp": (
        GOOD_LEADS.replace("2025-01-02", "Jan 2nd"), GOOD_ACTS, "column 'created_at': unparsable timestamp at data row 2",
    ),
    "duplicate lead_id": (GOOD_LEADS + "A,2025-01-03,,\n", GOOD_ACTS, "duplicate lead id at data row 1, 3"),
    "unknown outcome": (GOOD_LEADS.replace("won", "perhaps"), GOOD_ACTS, "unknown outcome value at data row 1"),
    "bad activity timestamp": (GOOD_LEADS, GOOD_ACTS + "A,soon,page_view\n", "column 'occurred_at': unparsable"),
}  # fmt: skip


def written(folder: Path) -> list[str]:
    """What a run left in a folder, apart from the hidden lock file of its target."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def _clean(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_train_bad_input_exits_2(case: str, tmp_path: Path, mlflow_store: str) -> None:
    leads, acts, expected = BAD_INPUTS[case]
    result = runner.invoke(app, ["train", *files(tmp_path, leads, acts)])
    assert result.exit_code == 2, result.output
    assert expected in _clean(result.output)
    assert not (tmp_path / "mlflow.db").exists()  # nothing was logged


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_score_bad_input_exits_2_and_writes_nothing(
    case: str, tmp_path: Path, trained: TrainedStore
) -> None:
    leads, acts, expected = BAD_INPUTS[case]
    out = tmp_path / "out" / "scores.csv"
    args = ["score", *files(tmp_path, leads, acts), "--as-of", "2025-03-01", "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in _clean(result.output)
    assert written(out.parent) == []


@pytest.mark.parametrize("as_of", ["2025-13-01", "yesterday", "01/02/2025", ""])
def test_malformed_as_of_exits_2(as_of: str, tmp_path: Path, trained: TrainedStore) -> None:
    out = tmp_path / "scores.csv"
    args = ["score", *files(tmp_path, GOOD_LEADS), "--as-of", as_of, "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--as-of" in result.output and "ISO 8601" in _clean(result.output)
    assert not out.exists()


def test_unsupported_output_format_exits_2(tmp_path: Path, trained: TrainedStore) -> None:
    out = tmp_path / "scores.xlsx"
    args = ["score", *files(tmp_path, GOOD_LEADS), "--as-of", "2025-03-01", "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "unsupported output format" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "where",
    [["--output", "scores.csv"], ["--output", "scores", "--db", "sqlite:///x.db"],
     ["--output", "scores", "--output-db", "postgresql://h/db"]],
    ids=["a file", "a database in", "a database out"],
)  # fmt: skip
def test_spark_engine_refuses_what_it_cannot_read_or_write(
    tmp_path: Path, where: list[str]
) -> None:
    """The engine's own check runs before PySpark or a model is needed: exit 2, nothing
    written."""
    args = ["score", *files(tmp_path, GOOD_LEADS), "--as-of", "2025-03-01", "--engine", "spark"]
    result = runner.invoke(app, [*args, *where])
    assert result.exit_code == 2, result.output
    assert "writes a Parquet folder or a Spark table" in result.output
    assert not (tmp_path / "scores.csv").exists()


def test_too_few_outcomes_exits_2(tmp_path: Path, mlflow_store: str) -> None:
    result = runner.invoke(app, ["train", *files(tmp_path, GOOD_LEADS)])
    assert result.exit_code == 2
    assert "too few closed leads to learn from: 1 won and 0 lost" in _clean(result.output)


def test_missing_model_exits_1_with_advice(tmp_path: Path, mlflow_store: str) -> None:
    out = tmp_path / "scores.csv"
    args = ["score", *files(tmp_path, GOOD_LEADS), "--as-of", "2025-03-01", "--output", str(out)]
    result = runner.invoke(app, args)  # no store at all: none is created by looking
    assert result.exit_code == 1
    assert "no MLflow store at" in _clean(result.output)
    assert not (tmp_path / "mlflow.db").exists()

    tracking.configure_tracking()
    tracking.ensure_experiment("leadscore")  # a store without the model
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "alias 'champion'" in _clean(result.output)
    assert "leadscore train" in _clean(result.output)
    assert not out.exists()


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("leadscore")
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "score" in done.stdout and "train" in done.stdout
    bad = subprocess.run(
        [str(exe), "train", "--leads", str(tmp_path / "missing.csv")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "file not found" in bad.stderr


def test_features_command_writes_table_and_registry(tmp_path: Path) -> None:
    from leadscore.pipelines.synthetic import generate, write_world

    write_world(generate(300, seed=2), tmp_path)
    out = tmp_path / "features.csv"
    args = ["features", "--leads", str(tmp_path / "leads.csv"), "--activities",
            str(tmp_path / "activities.csv"), "--as-of", "2026-06-30", "--output", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    import pandas as pd

    table = pd.read_csv(out)
    registry = pd.read_csv(tmp_path / "features.registry.csv")
    assert list(table.columns[:2]) == ["lead_id", "as_of"]
    assert list(table.columns[2:]) == registry["feature"].tolist()
    assert len(table) == 300
    assert registry["label"].notna().all()
    assert set(registry["family"]) == {"behaviour", "demographic", "engagement"}
