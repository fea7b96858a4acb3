"""Trust boundaries: models come only from the configured registry and are read without
running anything stored with them; config files cannot run code; database credentials come
from the environment and never reach logs, messages or MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from tests.conftest import TrainedStore
from tests.postgres import load_export

pytestmark = pytest.mark.integration
runner = CliRunner()
CLI = [sys.executable, "-m", "leadscore.pipelines.cli"]


def cli(trained: TrainedStore, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI in its own process (nothing cached from this one); (exit code, all output)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environment |= {"MLFLOW_TRACKING_URI": trained.uri, **(env or {})}
    done = subprocess.run(
        [*CLI, *args], env=environment, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr


def test_models_only_from_the_registry(trained: TrainedStore, tmp_path: Path) -> None:
    model_files = next(Path(trained.folder).rglob("MLmodel")).parent
    for uri in (str(model_files), model_files.as_uri(), "s3://bucket/model"):
        result = runner.invoke(
            app,
            ["score", "--leads", str(trained.leads), "--as-of", trained.as_of,
             "--output", str(tmp_path / "s.csv"), "--model", uri],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        assert "only from the configured MLflow registry" in " ".join(result.output.split())
        assert not (tmp_path / "s.csv").exists()


@pytest.fixture
def tampered_store(trained_world: TrainedStore, tmp_path: Path) -> Iterator[Path]:
    """The session store's model code files, changed to leave a mark when run (restored
    afterwards): what someone able to write to the artifact store could do."""
    marker = tmp_path / "code-from-the-store-ran"
    entries = list(Path(trained_world.folder).rglob("pyfunc_entry.py"))
    assert entries
    originals = {path: path.read_text() for path in entries}
    try:
        for path, text in originals.items():
            path.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n{text}")
        yield marker
    finally:
        for path, text in originals.items():
            path.write_text(text)


def test_loading_a_model_runs_no_code_from_the_store(
    trained: TrainedStore, tampered_store: Path, tmp_path: Path
) -> None:
    code, output = cli(
        trained, "score", "--leads", str(trained.leads), "--activities", str(trained.activities),
        "--as-of", trained.as_of, "--output", str(tmp_path / "scores.csv"), "-q",
    )  # fmt: skip
    assert code == 0, output
    assert len(pd.read_csv(tmp_path / "scores.csv")) > 50
    assert not tampered_store.exists()
    # The threat is real: MLflow's own pyfunc loader runs the stored code file.
    done = subprocess.run(
        [sys.executable, "-c",
         "import mlflow; mlflow.pyfunc.load_model('models:/lead-conversion@champion')"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
             "MLFLOW_TRACKING_URI": trained.uri},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert tampered_store.exists()


def test_config_files_cannot_run_code(trained: TrainedStore, tmp_path: Path) -> None:
    marker = tmp_path / "config-code-ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f"scoring: !!python/object/apply:os.system ['touch {marker}']\n")
    code, output = cli(
        trained, "score", "--leads", str(trained.leads), "--as-of", trained.as_of,
        "--output", str(tmp_path / "s.csv"), "--config", str(config),
    )  # fmt: skip
    assert code == 2, output
    assert str(config) in output and "Traceback" not in output
    assert not marker.exists() and not (tmp_path / "s.csv").exists()


def test_database_password_never_logged_or_recorded(
    trained: TrainedStore, postgres_url: str, tmp_path: Path
) -> None:
    password = "Pw-7f3c9e1a-never-print-me"
    load_export(postgres_url, trained, "trust")
    with_password = postgres_url.replace("postgres@", f"postgres:{password}@")
    store = tmp_path / "store"
    store.mkdir()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    # A model in a store of this test's own, so everything in that store is from this test.
    code, output = cli(trained, "train", "--leads", str(trained.leads), "--activities",
                       str(trained.activities), "-q", env=env)  # fmt: skip
    assert code == 0, output
    runs = [
        cli(trained, "score", "--leads", "trust_leads", "--activities", "trust_activities",
            "--as-of", trained.as_of, "--output", "trust_scores", "-v",
            env={**env, "LEADSCORE_DB": with_password, "LEADSCORE_OUTPUT_DB": with_password}),
        # a failure that names the database: the message shows it with the password hidden
        cli(trained, "score", "--leads", "no_such_table", "--as-of", trained.as_of,
            "--output", str(tmp_path / "x.csv"), "-v",
            env={**env, "LEADSCORE_DB": with_password.replace("/leadscore?", "/nodb?")}),
    ]  # fmt: skip
    assert runs[0][0] == 0, runs[0][1]
    assert runs[1][0] == 1 and "***" in runs[1][1], runs[1][1]
    stored = [store / "mlflow.db", *(p for p in store.rglob("*") if p.is_file())]
    assert any("trust_leads" in p.read_bytes().decode("utf-8", "replace") for p in stored)
    for path in stored:
        assert password not in path.read_bytes().decode("utf-8", "replace"), path
    for _, output in runs:
        assert password not in output
