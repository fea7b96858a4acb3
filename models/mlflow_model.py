"""The MLflow face of the model: a pyfunc whose input is the feature frame (numbers as
float64, categories as strings) and whose output is probability and tier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, Schema

from leadscore.features.build import FeatureSpec
from leadscore.features.schema import PROBABILITY, TIER
from leadscore.features.text import MISSING, OTHER
from leadscore.models.scorer import LeadScoringModel

ARTIFACT_KEY = "leadscore_model"
PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")


def frame_from_strings(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Feature frame in the model's dtypes from the signature's (strings + float64)."""
    out = {}
    for name in spec.feature_names:
        if name in spec.categories:
            categories = list(spec.categories[name])
            values = frame[name].astype("string").fillna(OTHER)
            values = values.where(values.isin(categories), OTHER)
            out[name] = pd.Categorical(values, categories=categories)
        else:
            out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def frame_to_strings(features: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    out = features[spec.feature_names].copy()
    for name in spec.categorical_names:
        out[name] = out[name].astype(str)
    return out


def signature(spec: FeatureSpec) -> ModelSignature:
    inputs = Schema(
        [ColSpec("string" if n in spec.categories else "double", n) for n in spec.feature_names]
    )
    outputs = Schema([ColSpec("double", PROBABILITY), ColSpec("string", TIER)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(spec: FeatureSpec) -> pd.DataFrame:
    """Two synthetic rows built from the spec alone, with no value from any lead: numbers 0
    and 1, categories ``other`` and ``missing`` (every vocabulary's last two entries)."""
    rows: dict[str, list[Any]] = {}
    for name in spec.feature_names:
        if name in spec.categories:
            rows[name] = [OTHER, MISSING]
        else:
            rows[name] = [0.0, 1.0]
    return pd.DataFrame(rows)


class LeadScoringPyfunc(PythonModel):
    """Loads the JSON + booster artifact; holds no state when pickled by MLflow."""

    def __init__(self) -> None:
        self.model: LeadScoringModel | None = None

    def load_context(self, context: Any) -> None:
        self.model = LeadScoringModel.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        assert self.model is not None, "load_context was not called"
        features = frame_from_strings(model_input, self.model.spec)
        probability = self.model.predict_proba(features)
        return pd.DataFrame(
            {PROBABILITY: probability.astype(np.float64), TIER: self.model.tiers(probability)},
            index=model_input.index,
        )
