"""The Spark engine on local[2]: the same rows as the local engine, scores and training rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from tests.conftest import TrainedStore

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from leadscore.pipelines.spark import session

    spark = session("local[2]")
    yield spark
    spark.stop()


def test_spark_scores_equal_local_scores(trained: TrainedStore, spark: Any, tmp_path: Path) -> None:
    local = tmp_path / "local.csv"
    args = ["score", "--leads", str(trained.leads), "--activities", str(trained.activities),
            "--as-of", trained.as_of, "-q"]  # fmt: skip
    assert runner.invoke(app, [*args, "--output", str(local)]).exit_code == 0
    folder = tmp_path / "spark"
    result = runner.invoke(
        app, [*args, "--output", str(folder), "--engine", "spark", "--spark-master", "local[2]"]
    )
    assert result.exit_code == 0, result.output

    a = pd.read_csv(local, keep_default_na=False).sort_values("lead_id").reset_index(drop=True)
    b = pd.read_parquet(folder).sort_values("lead_id").reset_index(drop=True)
    assert len(a) > 50 and list(b.columns) == list(a.columns)
    assert (a["lead_id"] == b["lead_id"]).all()
    np.testing.assert_allclose(a["probability"], b["probability"], rtol=0, atol=1e-9)
    assert (a["tier"] == b["tier"]).all()
    assert (a["reasons"] == b["reasons"].fillna("")).all()
    assert (b["as_of"] == pd.Timestamp(trained.as_of, tz="UTC")).all()
    ra = pd.read_csv(tmp_path / "local.rejects.csv", keep_default_na=False)
    rb = pd.read_parquet(folder / "_rejects")
    key = ["row", "reason"]
    pd.testing.assert_frame_equal(
        ra[key].sort_values(key).reset_index(drop=True),
        rb[key].sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )

    again = runner.invoke(
        app, [*args, "--output", str(folder), "--engine", "spark", "--spark-master", "local[2]"]
    )
    assert again.exit_code == 2 and "--force" in again.output


def test_spark_training_rows_equal_local_ones(trained: TrainedStore, spark: Any) -> None:
    from leadscore.pipelines.config import Config
    from leadscore.pipelines.fitting import training_set
    from leadscore.pipelines.spark import training_features_spark
    from leadscore.pipelines.tables import load_tables

    config = Config()
    tables = load_tables(trained.leads, trained.activities, config)
    spec, rows, features, end = training_set(tables, config, "local")
    local = pd.concat([rows, features], axis=1)
    local = local.sort_values(["lead_id", "as_of"], kind="stable").reset_index(drop=True)
    remote = training_features_spark(
        spark, str(trained.leads), str(trained.activities), config, spec, end
    )
    assert len(remote) == len(local) > 1000
    assert list(remote.columns) == list(local.columns)
    assert (remote["lead_id"].to_numpy() == local["lead_id"].to_numpy()).all()
    assert (remote["as_of"] == local["as_of"]).all()
    assert (remote["label"].to_numpy() == local["label"].to_numpy()).all()
    for name in spec.feature_names:
        if name in spec.categories:
            left = local[name].astype(object).where(local[name].notna(), None)
            right = remote[name].astype(object).where(remote[name].notna(), None)
            assert (left.to_numpy() == right.to_numpy()).all(), name
        else:
            np.testing.assert_allclose(
                remote[name].to_numpy(dtype=float), local[name].to_numpy(dtype=float),
                rtol=0, atol=1e-9, err_msg=name,
            )  # fmt: skip
