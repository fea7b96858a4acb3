# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lead conversion: an analyst's tour of the committed sample
#
# Load the sample CRM export, look at it, train a model in memory, read what drives the
# score and the tiers it promises, then score the open leads. Everything comes from the
# `leadscore` package; this notebook defines no feature logic. Run it top to bottom with
# `.venv/bin/python notebooks/analyst.py` (CI does) or open it in Jupyter with jupytext.

# %%
from pathlib import Path

import pandas as pd

from leadscore.features.build import build_features
from leadscore.features.snapshots import open_leads, rows_as_of
from leadscore.models.importance import rollup
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.io.tables import load_tables

ROOT = Path.cwd() if (Path.cwd() / "data" / "sample").is_dir() else Path.cwd().parent
SAMPLE = ROOT / "data" / "sample"
pd.set_option("display.width", 120)

# %% [markdown]
# ## The data

# %%
config = Config.model_validate({"backtest": {"folds": 0}})  # no backtest: a quick tour
tables = load_tables(SAMPLE / "leads.csv", SAMPLE / "activities.csv", config)
leads, activities = tables.leads, tables.activities
assert activities is not None
print(f"{len(leads):,} leads, {len(activities):,} activities, {len(tables.rejects):,} left out")
print(leads["outcome"].value_counts(dropna=False).rename("leads by outcome"))
print(activities["activity_type"].value_counts().head(10).rename("most common activities"))

# %%
by_month = leads.assign(month=leads["created_at"].dt.strftime("%Y-%m"))
closed = by_month[by_month["outcome"].notna()]
win_rate = (closed["outcome"] == "won").groupby(closed["month"]).mean()
print(win_rate.tail(12).rename("win rate of closed leads by month created"))

# %% [markdown]
# ## Train (in memory; `leadscore train` does the same and logs to MLflow)

# %%
fitted = fit(tables, config, str(SAMPLE / "leads.csv"))
print(pd.DataFrame({"model": fitted.metrics, "baseline": fitted.baseline_metrics}).round(3))

# %% [markdown]
# ## What drives the score

# %%
print(rollup(fitted.explained.importance, "family")[["family", "share"]].round(3))
print(rollup(fitted.explained.importance, "field")[["field", "share"]].head(10).round(3))
print(fitted.explained.importance[["label", "field", "direction"]].head(10))

# %% [markdown]
# ## The tiers and what they promise (most recent closed leads)

# %%
columns = ["tier", "threshold", "share_of_leads", "win_rate", "win_rate_low", "win_rate_high"]
print(fitted.tiers_final[columns].round(3))

# %% [markdown]
# ## Score the leads open at the end of the export

# %%
model = fitted.model
as_of = pd.Timestamp(model.metadata["data_end"]).ceil("D")
is_open, _ = open_leads(leads, as_of)
rows = rows_as_of(leads.loc[is_open, "lead_id"], as_of)
features = build_features(leads, activities, rows, model.spec)
matrix = model.matrix(features)
scores = rows.assign(
    probability=model.predict_proba(matrix),
    reasons=model.reasons(features, max_reasons=3, min_contribution=0.02, matrix=matrix),
)
scores["tier"] = model.tiers(scores["probability"].to_numpy())
print(scores["tier"].value_counts().rename(f"open leads as of {as_of.date()}"))
print(scores.sort_values("probability", ascending=False).head(5)[["lead_id", "probability", "reasons"]])
