"""Shared fixtures: tiny hand-made contract tables and a throwaway MLflow store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadscore.pipelines.config import Config
from leadscore.pipelines.io.tables import Tables, prepare_tables


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local[2] Spark session per test module (the Spark engine's tests)."""
    from leadscore.pipelines.spark import session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEADSCORE_SPARK_WAREHOUSE", str(warehouse))
        spark = session("local[2]")
    yield spark
    spark.stop()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture
def tiny_raw() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three leads and a handful of activities, as an export would have them (text cells)."""
    leads = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C"],
            "created_at": ["2025-01-01T09:00:00Z", "2025-01-05", "2025-02-01T00:00:00+01:00"],
            "outcome": ["won", "lost", ""],
            "closed_at": ["2025-03-01T12:00:00Z", "2025-02-01T00:00:00Z", ""],
            "lead_source": [" Paid_Search", "paid search", "Referral"],
            "industry": ["Software", "software ", "N/A"],
            "company_size": ["250", "51-200", ""],
            "country": ["DE", "de", "AT"],
            "job_title": ["Head of Marketing", "Werkstudentin", ""],
            "email": ["anna@acme.de", "x@gmail.com", ""],
        }
    )
    activities = pd.DataFrame(
        {
            "lead_id": ["A", "A", "A", "B", "C", "A"],
            "occurred_at": [
                "2025-01-02T10:00:00Z",
                "2025-01-20T10:00:00Z",
                "2025-02-25T10:00:00Z",
                "2025-01-06T10:00:00Z",
                "2025-02-02T10:00:00Z",
                "2025-03-05T10:00:00Z",  # after A closed
            ],
            "activity_type": [
                "Pricing Page View",
                "pricing_page_view",
                "demo_request",
                "page_view",
                "page_view",
                "page_view",
            ],
            "value": ["30", "", "", "12", "40", "500"],
        }
    )
    return leads, activities


@pytest.fixture
def tiny(tiny_raw: tuple[pd.DataFrame, pd.DataFrame], config: Config) -> Tables:
    leads, activities = tiny_raw
    return prepare_tables(leads, activities, config)


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real SQLite MLflow store in a temporary folder (artifacts beside it)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    yield uri
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrainedStore:
    """A real SQLite MLflow store holding a champion trained on a generated world."""

    folder: Path
    uri: str
    leads: Path
    activities: Path
    as_of: str = "2026-06-30"


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """Train once per test session (about 10 s); tests score against it."""
    import mlflow

    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.synthetic import generate, write_world
    from leadscore.pipelines.train import train

    folder = tmp_path_factory.mktemp("trained")
    write_world(generate(1500, seed=3), folder / "world")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        patch.chdir(folder)
        tracking.configure_tracking()
        quick = Config.model_validate({"backtest": {"folds": 0}})
        train(folder / "world" / "leads.csv", folder / "world" / "activities.csv", quick)
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return TrainedStore(
        folder, uri, folder / "world" / "leads.csv", folder / "world" / "activities.csv"
    )


@pytest.fixture
def trained(
    trained_world: TrainedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TrainedStore]:
    """The session's trained store, active for one test that runs in its own folder."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_world.uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    yield trained_world
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (see tests/postgres.py)."""
    from tests.postgres import cluster

    with cluster() as url:
        yield url
