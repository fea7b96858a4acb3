"""The Spark engine on local[2]: the same rows as the local engine, scores and training rows."""

from __future__ import annotations

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


def test_spark_training_rows_equal_local_ones(
    trained: TrainedStore, spark: Any, tmp_path: Path
) -> None:
    """Spec, data end and rows all learned on Spark: the same table as the local builder."""
    args = ["features", "--training-rows", "--leads", str(trained.leads),
            "--activities", str(trained.activities), "-q"]  # fmt: skip
    local_path, folder = tmp_path / "rows.parquet", tmp_path / "rows-spark"
    result = runner.invoke(app, [*args, "--output", str(local_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, [*args, "--output", str(folder), "--engine", "spark", "--spark-master", "local[2]"]
    )
    assert result.exit_code == 0, result.output

    registry = pd.read_csv(tmp_path / "rows.registry.csv")
    assert registry.equals(pd.read_csv(tmp_path / "rows-spark.registry.csv"))
    local, remote = pd.read_parquet(local_path), pd.read_parquet(folder)
    assert len(remote) == len(local) > 1000
    assert list(remote.columns) == list(local.columns)
    assert (remote["lead_id"].to_numpy() == local["lead_id"].to_numpy()).all()
    assert (remote["as_of"] == local["as_of"]).all()
    assert (remote["label"].to_numpy() == local["label"].to_numpy()).all()
    np.testing.assert_allclose(remote["weight"], local["weight"], rtol=0, atol=1e-12)
    categorical = set(registry.loc[registry["kind"] == "category", "feature"])
    assert categorical and set(registry["feature"]) <= set(local.columns)
    for name in registry["feature"]:
        if name in categorical:
            left = local[name].astype(object).where(local[name].notna(), None)
            right = remote[name].astype(object).where(remote[name].notna(), None)
            assert (left.to_numpy() == right.to_numpy()).all(), name
        else:
            np.testing.assert_allclose(
                remote[name].to_numpy(dtype=float), local[name].to_numpy(dtype=float),
                rtol=0, atol=1e-9, err_msg=name,
            )  # fmt: skip


def test_spark_scores_into_a_spark_table(trained: TrainedStore, spark: Any) -> None:
    """Rows per as-of in a catalog table; a rerun needs --force and replaces only its own
    as-of; rejects in <table>_rejects."""
    table = "lead_scores"
    base = ["score", "--leads", str(trained.leads), "--activities", str(trained.activities),
            "--output-db", "spark", "--output", table, "--engine", "spark",
            "--spark-master", "local[2]", "-q"]  # fmt: skip
    for as_of in ("2026-06-16", trained.as_of):
        result = runner.invoke(app, [*base, "--as-of", as_of])
        assert result.exit_code == 0, result.output
    counts = spark.table(table).groupBy("as_of").count().collect()
    assert len(counts) == 2 and all(row["count"] > 50 for row in counts)
    assert spark.table(table).columns == ["lead_id", "probability", "tier", "reasons",
                                          "model_version", "as_of"]  # fmt: skip
    rejects = spark.table(f"{table}_rejects").count()
    assert rejects > 0

    again = runner.invoke(app, [*base, "--as-of", trained.as_of])
    assert again.exit_code == 2 and "--force" in again.output
    forced = runner.invoke(app, [*base, "--as-of", trained.as_of, "--force"])
    assert forced.exit_code == 0, forced.output
    assert sorted(r["count"] for r in spark.table(table).groupBy("as_of").count().collect()) == (
        sorted(row["count"] for row in counts)
    )
    assert spark.table(f"{table}_rejects").count() == rejects


def test_spark_input_error_names_the_column(
    trained: TrainedStore, spark: Any, tmp_path: Path
) -> None:
    """An input error inside a Spark task reaches the user as one (exit 2), not as a Java
    stack trace; nothing is written."""
    acts = pd.read_csv(trained.activities, dtype=str, keep_default_na=False)
    acts.loc[5, "occurred_at"] = "not a time"
    bad = tmp_path / "activities.csv"
    acts.to_csv(bad, index=False)
    folder = tmp_path / "out"
    result = runner.invoke(
        app,
        ["score", "--leads", str(trained.leads), "--activities", str(bad), "--as-of",
         trained.as_of, "--output", str(folder), "--engine", "spark", "--spark-master",
         "local[2]"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "occurred_at" in result.output and "Traceback" not in result.output
    assert not any(p.suffix == ".parquet" for p in folder.rglob("*"))
