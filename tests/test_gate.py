"""The champion gate fails closed (issue 18, point 3), against a real SQLite MLflow store:
"no such model / alias" is "no champion yet" (promote); a registry that cannot be read or
a champion that cannot be loaded never lets a new model replace the champion, unless
`train --promote` says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from leadscore.pipelines.io import tracking
from leadscore.pipelines.synthetic import generate, write_world

NAME = "lead-conversion"
DECISION = "leadscore.champion_decision"
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gate-world")
    write_world(generate(1500, seed=7), out)
    (out / "quick.yaml").write_text("backtest:\n  folds: 0\n", encoding="utf-8")
    return out


def train(world: Path, *extra: str) -> tuple[int, str]:
    args = ["train", "--leads", str(world / "leads.csv"), "--activities"]
    args += [str(world / "activities.csv"), "--config", str(world / "quick.yaml"), "-q", *extra]
    result = runner.invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def alias(name: str) -> str | None:
    return tracking.alias_version(NAME, name)


def decision(version: str) -> str:
    client = MlflowClient()
    run_id = str(client.get_model_version(NAME, version).run_id)
    return str(client.get_run(run_id).data.tags[DECISION])


def champion_files(version: str) -> list[Path]:
    """The files of a registered version's logged model, on disk under the store's mlruns/."""
    client = MlflowClient()
    source = str(client.get_model_version(NAME, version).source)
    assert source.startswith("models:/m-"), source  # MLflow 3 registers a logged model
    model_id = source.removeprefix("models:/")
    location = urlparse(client.get_logged_model(model_id).artifact_location)
    assert location.scheme == "file"
    folder = Path(unquote(location.path))
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and folder.is_relative_to(Path.cwd())
    return files


def test_missing_model_and_missing_alias_mean_no_champion(mlflow_store: str) -> None:
    """What MLflow 3 answers with a real SQLite store: RESOURCE_DOES_NOT_EXIST for a missing
    registered model, INVALID_PARAMETER_VALUE for a missing alias; both are None."""
    tracking.configure_tracking()
    assert alias(tracking.CHAMPION) is None  # no such registered model
    MlflowClient().create_registered_model(NAME)
    assert alias(tracking.CHAMPION) is None  # the model exists, the alias does not


def test_unreadable_alias_table_raises(mlflow_store: str) -> None:
    """A store whose alias table is gone answers TEMPORARILY_UNAVAILABLE ("no such table"):
    that is not "no champion" but RegistryUnavailable, naming the store and the error."""
    tracking.configure_tracking()
    MlflowClient().create_registered_model(NAME)
    db = mlflow_store.removeprefix("sqlite:///")
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE registered_model_aliases RENAME TO aliases_away")
    with pytest.raises(tracking.RegistryUnavailable) as caught:
        alias(tracking.CHAMPION)
    message = str(caught.value)
    assert mlflow_store in message and "no such table: registered_model_aliases" in message
    assert isinstance(caught.value, tracking.ModelResolutionError)  # the CLI's exit code 1
    # promote and rollback refuse too instead of moving aliases blind
    with pytest.raises(tracking.RegistryUnavailable):
        tracking.rollback(NAME)


@pytest.mark.integration
def test_first_train_on_empty_store_promotes(world: Path, mlflow_store: str) -> None:
    code, output = train(world)
    assert code == 0, output
    assert alias(tracking.CHAMPION) == "1" and alias(tracking.CHALLENGER) is None
    assert decision("1") == "no champion yet"
    # Readable in the MLflow UI without opening the run (issue 18, point 2): descriptions,
    # version tags, the whole resolved config and the parameters actually used.
    client = MlflowClient()
    version = client.get_model_version(NAME, "1")
    assert "leadscore" in str(client.get_registered_model(NAME).description)
    assert "ROC AUC" in str(version.description) and "no champion yet" in version.description
    tags = version.tags
    assert tags["leadscore.gate_decision"] == "no champion yet"
    assert tags["leadscore.data_digest"].startswith("sha256:")
    assert " .. " in tags["leadscore.training_window"]
    assert 0.5 < float(tags["leadscore.test_roc_auc"]) <= 1.0
    run = client.get_run(str(version.run_id))
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "config")}
    assert "config/resolved_config.json" in logged
    params = run.data.params
    assert params["backtest.folds"] == "0"  # from quick.yaml
    # Where the time went (issue 19): seconds per stage, on the terminal and in the run.
    assert "Seconds per stage: read and validate" in output
    stages = ("read_and_validate", "training_rows", "evaluation", "registered_model")
    assert all(run.data.metrics[f"seconds_{stage}"] >= 0 for stage in stages)
    assert all(key in params for key in ("export.row_order_is_time", "scoring.max_reasons"))


@pytest.mark.integration
@pytest.mark.parametrize("promote", [False, True], ids=["garbage artifact", "missing, --promote"])
def test_an_unloadable_champion_is_left_alone_unless_promote_is_given(
    world: Path, mlflow_store: str, promote: bool
) -> None:
    assert train(world)[0] == 0
    for file in champion_files("1"):  # garbage in place of every file, or none at all
        if promote:
            file.unlink()
        else:
            file.write_bytes(b"\x00not a model\xff")
    code, output = train(world, *(["--promote"] if promote else []))
    told = decision("2")
    assert "champion v1 cannot be loaded or scored" in told
    if promote:
        assert code == 0, output
        assert (alias(tracking.CHAMPION), alias(tracking.PREVIOUS)) == ("2", "1")
        assert alias(tracking.CHALLENGER) is None
        assert "promoted anyway (--promote)" in told
    else:
        assert code == 1, output
        assert "v2 was registered" in output and "leadscore promote --version 2" in output
        assert "--promote" in output
        assert (alias(tracking.CHAMPION), alias(tracking.CHALLENGER)) == ("1", "2")
        assert alias(tracking.PREVIOUS) is None
        assert "champion left alone" in told


@pytest.mark.integration
def test_unreadable_registry_fails_closed(world: Path, mlflow_store: str) -> None:
    """Run logging still works but the registry's alias table cannot be read. With a SQLite
    store the registry shares the database, so registering the new version fails as well:
    the job stops with exit code 1, the run records why, no alias moved, nothing new."""
    assert train(world)[0] == 0
    db = mlflow_store.removeprefix("sqlite:///")
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE registered_model_aliases RENAME TO aliases_away")
    code, output = train(world, "--promote")  # even --promote moves nothing it cannot read
    assert code == 1, output
    assert "while registering" in output and "no alias points to it" in output
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE aliases_away RENAME TO registered_model_aliases")
    assert alias(tracking.CHAMPION) == "1"
    assert [v.version for v in MlflowClient().search_model_versions(f"name='{NAME}'")] == [1]
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("leadscore").experiment_id],
        order_by=["attributes.start_time DESC"],
    )
    told = runs[0].data.tags[DECISION]
    assert "cannot read the alias 'champion'" in told and mlflow_store in told
    assert "no such table" in told
