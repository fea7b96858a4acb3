"""Explanations marketers act on: the HTML report (rendered in a real headless Chromium),
per-lead reasons that add up, `leadscore explain`, and the analyst notebook run top to
bottom."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from tests.conftest import TrainedStore

pytestmark = pytest.mark.integration
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no Chromium on PATH: install Debian's `chromium` package (`.ci/run` does this)"
    )


def test_report_is_self_contained_in_business_words_and_renders_in_chromium(
    trained: TrainedStore, tmp_path: Path
) -> None:
    from leadscore.pipelines.io import tracking

    result = runner.invoke(app, ["report", "--output", str(tmp_path / "report"), "-q"])
    assert result.exit_code == 0, result.output
    page = tmp_path / "report" / "report.html"
    text = page.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") >= 5
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    for heading in ("The tiers and what they promise", "What drives the score",
                    "How good is it?", "What changed against the previous champion"):  # fmt: skip
        assert heading in text

    # Marketing words only: no internal feature name (like `pricing_page_view__count_30d`;
    # the few that are plain words, like "industry", may appear as words).
    tracking.configure_tracking()
    model = tracking.load_model("models:/lead-conversion@champion").model
    visible = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    leaked = [n for n in model.spec.feature_names if "_" in n and n in visible]
    assert len([n for n in model.spec.feature_names if "_" in n]) > 50
    assert leaked == []

    # The same page is in the model's MLflow run.
    version = MlflowClient().get_model_version_by_alias("lead-conversion", "champion")
    logged = {a.path for a in MlflowClient().list_artifacts(str(version.run_id), "report")}
    assert "report/report.html" in logged

    # A real browser: every image decodes, no console error; keep a screenshot.
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(page.as_uri())
        tab.wait_for_load_state("load")
        images = tab.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
        )
        tab.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert len(images) >= 5
    broken = [alt for complete, width, alt in images if not complete or width == 0]
    assert broken == []
    assert errors == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_contributions_add_up_to_the_raw_score_for_1000_leads(trained: TrainedStore) -> None:
    from leadscore.features.build import build_features
    from leadscore.features.registry import registry_frame
    from leadscore.features.snapshots import rows_as_of
    from leadscore.pipelines.config import Config
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.tables import load_tables

    tracking.configure_tracking()
    model = tracking.load_model("models:/lead-conversion@champion").model
    tables = load_tables(trained.leads, trained.activities, Config())
    rows = rows_as_of(tables.leads["lead_id"].iloc[:1000], pd.Timestamp(trained.as_of, tz="UTC"))
    features = build_features(tables.leads, tables.activities, rows, model.spec)
    contrib, base = model.contributions(features)
    raw = model.raw_score(features)
    assert len(raw) == 1000
    np.testing.assert_allclose(contrib.sum(axis=1) + base, raw, atol=1e-6, rtol=0)
    exact = np.asarray(model.booster.predict(model.matrix(features), pred_contrib=True))
    np.testing.assert_allclose(contrib, exact[:, :-1], atol=1e-9, rtol=0)

    labels = set(registry_frame(model.spec.definitions())["label"])
    reasons = model.reasons(features, 4, 0.02)
    named = {part[2:].split(": ")[0] for text in reasons for part in text.split("; ") if part}
    assert named and named <= labels  # every reason's words come from the registry


def test_explain_prints_one_lead(trained: TrainedStore) -> None:
    leads = pd.read_csv(trained.leads, keep_default_na=False)
    lead = leads.loc[leads["outcome"] == "", "lead_id"].iloc[0]
    result = runner.invoke(
        app,
        ["explain", "--lead-id", lead, "--leads", str(trained.leads),
         "--activities", str(trained.activities), "--as-of", trained.as_of],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"Lead {lead}" in out and "Average lead" in out and "log-odds" in out
    missing = runner.invoke(
        app, ["explain", "--lead-id", "nobody", "--leads", str(trained.leads), "-q"]
    )
    assert missing.exit_code == 2
    assert "no lead with id 'nobody'" in " ".join(missing.output.split())


def test_analyst_notebook_runs_top_to_bottom(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "notebooks" / "analyst.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "open leads as of" in done.stdout
