"""Leads with row-level faults on the Spark engine: set aside bucket by bucket, their share
judged over the whole table on the driver, as the local engine judges it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from tests.conftest import TrainedStore

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_spark_sets_aside_bad_lead_rows_and_judges_their_share_on_the_whole_table(
    trained: TrainedStore, spark: Any, tmp_path: Path
) -> None:
    leads = pd.read_csv(trained.leads, dtype=str, keep_default_na=False)
    closed = leads.index[leads["closed_at"] != ""]
    broken = leads.copy()
    broken.loc[closed[:14], "closed_at"] = "2020-01-01T00:00:00Z"  # 14 of 1500: 0.93%
    path = tmp_path / "leads.csv"
    broken.to_csv(path, index=False)
    args = ["score", "--leads", str(path), "--activities", str(trained.activities),
            "--as-of", trained.as_of, "-q"]  # fmt: skip
    spark_args = ["--engine", "spark", "--spark-master", "local[2]"]
    local = runner.invoke(app, [*args, "--output", str(tmp_path / "local.csv")])
    assert local.exit_code == 0, local.output
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "spark"), *spark_args])
    assert result.exit_code == 0, (result.output, result.exception)
    rejects = pd.read_parquet(tmp_path / "spark" / "_rejects")
    lead_rejects = rejects[rejects["reason"] == "closed before it was created"]
    assert sorted(lead_rejects["row"]) == [int(i) + 1 for i in closed[:14]]
    local_rejects = pd.read_csv(tmp_path / "local.rejects.csv", keep_default_na=False)
    assert sorted(rejects["reason"]) == sorted(local_rejects["reason"])

    broken.loc[closed[14:16], "closed_at"] = "2020-01-01T00:00:00Z"  # 16 of 1500: 1.07%
    broken.to_csv(path, index=False)
    out = tmp_path / "refused"
    result = runner.invoke(app, [*args, "--output", str(out), *spark_args])
    assert result.exit_code == 2, (result.output, result.exception)
    message = " ".join(result.output.split())
    rows = ", ".join(str(int(i) + 1) for i in closed[:5])
    assert f"column 'closed_at': closed before it was created at data row {rows} and 11 more" in (
        message
    )
    assert "16 of 1500 rows have row-level faults (1.07%)" in message
    assert "Traceback" not in result.output
    assert not any(p.suffix == ".parquet" for p in out.rglob("*"))
