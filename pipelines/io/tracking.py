"""MLflow plumbing: where runs go, how models are registered, aliased and found again."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leadscore.models.mlflow_model import ARTIFACT_KEY
from leadscore.models.scorer import IncompatibleModelError, LeadScoringModel

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous_champion"
DEFAULT_DB = "mlflow.db"
# What the registry answers for a missing model, version or alias (anything else, such as
# INTERNAL_ERROR for a refused connection, means the registry could not be asked).
NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class ModelResolutionError(RuntimeError):
    """The model could not be found or loaded; the message says why and what to do."""


class RegistryUnavailable(ModelResolutionError):
    """The registry could not be read: unreachable, a database error, refused access, a
    broken store; not "no such model or alias". The message names the registry URI and
    the underlying error. A ModelResolutionError, so every command exits with code 1."""


# A tracking server that is down should fail a nightly job within seconds (3 attempts with
# 1-2-4 s back-off), one that accepts connections but never answers within about a minute
# and a half (4 attempts of 20 s), not after MLflow's defaults of 7 retries with doubling
# back-off and 120 s timeouts (many minutes). Setting a variable overrides its default.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


def configure_tracking(workdir: Path | None = None) -> str:
    """Use ``MLFLOW_TRACKING_URI`` when set, else a SQLite store in the working directory.
    Called once by the CLI, never at import time."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        base = (workdir or Path.cwd()).resolve()
        uri = f"sqlite:///{base / DEFAULT_DB}"
    if uri.startswith(("http://", "https://")):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI", uri))
    return uri


def model_uri(given: str | None, model_name: str) -> str:
    """Configure tracking (``configure_tracking``) and return the model a command works on:
    the URI the user gave, else the registered model's champion."""
    configure_tracking()
    return given or f"models:/{model_name}@{CHAMPION}"


def require_store() -> None:
    """A job that needs an existing model must not create an empty SQLite store as a side
    effect of looking for it (a wrong working folder would otherwise look like "no model")."""
    uri = mlflow.get_registry_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ModelResolutionError(
                f"no MLflow store at {path}: run `leadscore train` here first, or point "
                "MLFLOW_TRACKING_URI at the store that holds the model"
            )


def ensure_experiment(name: str) -> str:
    """Create the experiment if needed. With a local SQLite store the artifacts go to
    ``mlruns/`` next to the database file, wherever the command runs from."""
    client = MlflowClient()
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        mlflow.set_experiment(experiment_id=existing.experiment_id)
        return str(existing.experiment_id)
    uri = mlflow.get_tracking_uri()
    location = None
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db_path = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
        if db_path is not None:
            location = (db_path.parent / "mlruns").resolve().as_uri()
    experiment_id = client.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


HOST_TAG, PID_TAG = "leadscore.host", "leadscore.pid"


@contextlib.contextmanager
def start_run(run_name: str, experiment_id: str) -> Iterator[Any]:
    """``mlflow.start_run`` for a job, stamped with host and process id; first closes the
    runs of this experiment that a killed job on this host left RUNNING (as KILLED). When
    the job fails because the tracking server went away, closing the run fails too: the
    job's own error is the one raised (the next job closes the run)."""
    close_abandoned_runs(experiment_id)
    run = mlflow.start_run(
        run_name=run_name,
        experiment_id=experiment_id,
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
    )
    try:
        yield run
    except BaseException:
        try:
            mlflow.end_run(status="FAILED")
        except MlflowException as exc:
            log.warning("MLflow could not record the run as failed: %s", exc.message)
        raise
    mlflow.end_run()


@contextlib.contextmanager
def nested_run(run_name: str) -> Iterator[Any]:
    """A child of the active run (a backtest fold), stamped like ``start_run``, so the runs
    a killed job leaves open are closed by the next job, children too."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    with mlflow.start_run(run_name=run_name, nested=True, tags=tags) as run:
        yield run


def log_training_input(leads: pd.DataFrame, label: str, digest: str) -> None:
    """The training data's lineage on the active run, without a single row: where it came
    from (``label``, a path or a database table with its password hidden), its digest and
    the schema of the leads table as read."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, DataType, Schema

    try:
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": a path
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(label)
    except MlflowException:  # a database table: no file to point at
        source = CodeDatasetSource(tags={"source": label})
    kinds = {
        "b": DataType.boolean,
        "i": DataType.double,
        "f": DataType.double,
        "M": DataType.datetime,
    }
    schema = Schema(
        [ColSpec(kinds.get(dtype.kind, DataType.string), str(name), required=False)
         for name, dtype in leads.dtypes.items()]
    )  # fmt: skip
    dataset = MetaDataset(  # type: ignore[abstract]  # concrete at run time (MLflow 3)
        source=source, name="leads", digest=digest[:36], schema=schema
    )
    mlflow.log_input(dataset, context="training")


def close_abandoned_runs(experiment_id: str) -> list[str]:
    """Mark RUNNING runs whose process on this host is gone as KILLED (a SIGKILL, a power
    cut); runs from other hosts or of live processes are left alone. Returns their ids."""
    client = MlflowClient()
    host = socket.gethostname()
    closed = []
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        max_results=200,
    )
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid)):
            continue
        client.set_tag(run.info.run_id, "leadscore.ended_by", "the next job: its process is gone")
        client.set_terminated(run.info.run_id, status="KILLED")
        closed.append(run.info.run_id)
    if closed:
        log.warning("Marked %d runs left RUNNING by killed jobs as KILLED", len(closed))
    return closed


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def git_commit() -> str:
    """The commit of the leadscore source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    versions = {}
    for package in (
        "leadscore",
        "lightgbm",
        "scikit-learn",
        "pandas",
        "numpy",
        "mlflow",
        "pyarrow",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def pip_requirements() -> list[str]:
    versions = library_versions()
    return [f"{name}=={version}" for name, version in versions.items() if version != "unknown"]


@dataclass(frozen=True)
class ResolvedModel:
    model: LeadScoringModel
    uri: str
    name: str | None
    version: str | None

    @property
    def label(self) -> str:
        """What goes in every scored row's ``model_version``."""
        if self.name and self.version:
            return f"{self.name}/{self.version}"
        return self.uri


REGISTRY_SCHEMES = ("models:/", "runs:/")


def _unwrap(uri: str) -> LeadScoringModel:
    """Read a leadscore model's own files (JSON and LightGBM's text format) from the store,
    without running anything stored with it: MLflow's pyfunc loader would execute the model's
    code file, so anyone able to write to the artifact store could run code in the nightly
    job. Nothing is unpickled either; the pyfunc stays loadable for MLflow serving."""
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        try:
            description = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ModelResolutionError(f"{uri} is not an MLflow model ({exc})") from exc
        flavor = (description or {}).get("flavors", {}).get("python_function") or {}
        entry = (flavor.get("artifacts") or {}).get(ARTIFACT_KEY) or {}
        folder = (local / str(entry.get("path", ""))).resolve()
        if not entry or not folder.is_relative_to(local.resolve()) or not folder.is_dir():
            raise ModelResolutionError(f"{uri} is not a leadscore model")
        return LeadScoringModel.load(folder)


def load_model(uri: str) -> ResolvedModel:
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/...`` from the
    configured registry / tracking store; nothing else (a path, a file or cloud URL) is
    accepted: models reach the nightly job only through the registry."""
    if not uri.startswith(REGISTRY_SCHEMES):
        raise ModelResolutionError(
            f"--model {uri!r}: models are loaded only from the configured MLflow registry or "
            "tracking store (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model); "
            "register a model with `leadscore train` or `mlflow.register_model` first"
        )
    require_store()
    client = MlflowClient()
    name = version = None
    try:
        if uri.startswith("models:/"):
            path = uri.removeprefix("models:/")
            if "@" in path:
                name, alias = path.split("@", 1)
                try:
                    mv = client.get_model_version_by_alias(name, alias)
                except MlflowException as exc:
                    if exc.error_code not in NOT_FOUND:
                        raise
                    raise ModelResolutionError(
                        f"no model version of '{name}' carries the alias '{alias}' in the "
                        f"registry at {mlflow.get_registry_uri()}: run `leadscore train` first, "
                        f"or point --model at an existing version ({exc.message})"
                    ) from exc
                version = str(mv.version)
                uri = f"models:/{name}/{version}"
            else:
                name, version = path.rsplit("/", 1)
        model = _unwrap(uri)
    except ModelResolutionError:
        raise
    except IncompatibleModelError as exc:
        raise ModelResolutionError(f"{uri}: {exc}") from exc
    except MlflowException as exc:
        if exc.error_code in NOT_FOUND:
            raise ModelResolutionError(f"cannot load {uri}: {exc.message}") from exc
        raise ModelResolutionError(
            f"cannot reach the model registry at {mlflow.get_registry_uri()} for {uri}: "
            f"{exc.message}"
        ) from exc
    except (OSError, ConnectionError) as exc:
        raise ModelResolutionError(f"cannot reach the model registry for {uri}: {exc}") from exc
    return ResolvedModel(model=model, uri=uri, name=name, version=version)


def shown_uri(uri: str) -> str:
    """A store URI for messages and run records, its password (if any) hidden."""
    parsed = urlparse(uri)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
        return parsed._replace(netloc=netloc).geturl()
    return uri


def _first_line(text: str, limit: int = 300) -> str:
    """The gist of an error (SQLAlchemy appends the whole statement on further lines)."""
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def alias_version(name: str, alias: str) -> str | None:
    """The version an alias points at, or None when the registered model or the alias does
    not exist (MLflow answers RESOURCE_DOES_NOT_EXIST for a missing model,
    INVALID_PARAMETER_VALUE for a missing alias). Any other failure (registry out of reach,
    a database error, refused access) raises RegistryUnavailable: "cannot tell" must never
    read as "no champion"."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in NOT_FOUND:
            return None
        detail = f"{exc.error_code}: {_first_line(exc.message)}"
        cause: Exception = exc
    except Exception as exc:  # a raw database, network or permission error
        detail, cause = f"{type(exc).__name__}: {_first_line(str(exc))}", exc
    raise RegistryUnavailable(
        f"cannot read the alias '{alias}' of model '{name}' from the registry at "
        f"{shown_uri(mlflow.get_registry_uri())} ({detail})"
    ) from cause


def register(model_uri: str, name: str) -> str:
    """Register a logged model as a new version of ``name``; returns the version."""
    version = mlflow.register_model(model_uri, name)
    return str(version.version)


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, version)


def promote(name: str, version: str) -> str | None:
    """Make ``version`` the champion; the old champion becomes ``previous_champion`` (what
    ``rollback`` returns to). Returns the old champion's version."""
    client = MlflowClient()
    old = alias_version(name, CHAMPION)
    if old is not None and old != version:
        client.set_registered_model_alias(name, PREVIOUS, old)
    client.set_registered_model_alias(name, CHAMPION, version)
    if alias_version(name, CHALLENGER) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    return old


def rollback(name: str) -> tuple[str, str]:
    """Swap ``champion`` and ``previous_champion``. Returns (restored, demoted)."""
    previous = alias_version(name, PREVIOUS)
    current = alias_version(name, CHAMPION)
    if previous is None or current is None:
        raise ModelResolutionError(
            f"nothing to roll back to: '{name}' has no '{PREVIOUS}' alias (it is set when a "
            "champion is replaced)"
        )
    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_alias(name, PREVIOUS, current)
    return previous, current
