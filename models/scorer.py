"""Everything learned, in one artifact: the feature spec (vocabularies), the booster, the
calibrator and the tier thresholds, with how the training export was read (its column
mapping, outcome spellings and export facts), so that the same raw export scores without the
training config. Saved as JSON plus LightGBM's own text format (no pickle), loaded only
through the MLflow registry by the jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadscore.features.build import SPEC_VERSION, FeatureSpec
from leadscore.features.registry import FeatureDef
from leadscore.models.booster import to_matrix
from leadscore.models.calibration import Calibrator
from leadscore.models.cpus import threads
from leadscore.models.drift import DriftReference
from leadscore.models.thresholds import Thresholds
from leadscore.models.treeshap import PathExplainer

ARTIFACT_FORMAT = 1
MODEL_FILE = "model.json"
BOOSTER_FILE = "booster.txt"
JUDGED_BOOSTER_FILE = "booster_judged.txt"
READING = "reading"  # metadata key: the config sections that read the training export


class IncompatibleModelError(RuntimeError):
    """The stored model was built by a version of leadscore this one cannot run."""


@dataclass
class LeadScoringModel:
    spec: FeatureSpec
    booster: lgb.Booster
    calibrator: Calibrator
    thresholds: Thresholds
    metadata: dict[str, Any] = field(default_factory=dict)
    drift: DriftReference | None = None  # the training rows' feature distributions
    # The booster the model was judged with: the same recipe without the most recent period,
    # whose scores on that period fitted ``calibrator``. ``booster`` adds that period. The
    # champion gate compares a challenger with this one, on leads neither has learned from.
    judged: lgb.Booster | None = None
    _explainer: PathExplainer | None = field(default=None, init=False, repr=False)

    @property
    def reading(self) -> dict[str, Any] | None:
        """The config sections that read the training export (``columns``,
        ``outcome_values``, ``export``) as plain values; None for a model stored before
        models kept them."""
        stored = self.metadata.get(READING)
        return stored if isinstance(stored, dict) else None

    # -- prediction -------------------------------------------------------------------
    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The float matrix the booster reads (see ``to_matrix``)."""
        return to_matrix(features, self.spec)

    def raw_score(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The booster's log-odds before calibration."""
        x = features if isinstance(features, np.ndarray) else self.matrix(features)
        return np.asarray(self.booster.predict(x, raw_score=True, num_threads=threads()))

    def predict_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.calibrator.predict(self.raw_score(features))

    def judged_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probabilities from the booster the model was judged with (``booster`` when the
        model has none, as models registered before it was kept)."""
        if self.judged is None:
            return self.predict_proba(features)
        raw = np.asarray(self.judged.predict(self.matrix(features), raw_score=True))
        return self.calibrator.unaligned().predict(raw)  # fitted on exactly these scores

    def tiers(self, probability: np.ndarray) -> np.ndarray:
        return self.thresholds.assign(probability)

    def contributions(self, features: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row exact TreeSHAP contributions (log-odds) per feature and the base value;
        they sum to ``raw_score``. The numbers of LightGBM's ``pred_contrib``, computed from
        tables built once per model (``models/treeshap.py``) at a few times the cost of
        ``predict`` instead of tens to hundreds of times."""
        x = features if isinstance(features, np.ndarray) else self.matrix(features)
        if self._explainer is None:
            self._explainer = PathExplainer.from_booster(self.booster, num_threads=threads())
        return self._explainer.contributions(x)

    def reasons(
        self,
        features: pd.DataFrame,
        max_reasons: int,
        min_contribution: float,
        matrix: np.ndarray | None = None,
    ) -> list[str]:
        """The strongest factors per row in plain words, strongest first:
        ``+ Pricing page views, last 30 days: 3; - Company size (employees): unknown``."""
        x = self.matrix(features) if matrix is None else matrix
        contrib, _ = self.contributions(x)
        return describe(contrib, features, self.spec.definitions(), max_reasons, min_contribution)

    # -- persistence ------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / BOOSTER_FILE).write_text(self.booster.model_to_string(), encoding="utf-8")
        if self.judged is not None:
            (directory / JUDGED_BOOSTER_FILE).write_text(
                self.judged.model_to_string(), encoding="utf-8"
            )
        document = {
            "artifact_format": ARTIFACT_FORMAT,
            "spec": self.spec.to_dict(),
            "calibrator": self.calibrator.to_dict(),
            "thresholds": self.thresholds.to_dict(),
            "metadata": self.metadata,
            "drift": self.drift.to_dict() if self.drift is not None else None,
        }
        (directory / MODEL_FILE).write_text(
            json.dumps(document, indent=2, default=str), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> LeadScoringModel:
        document = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        if document.get("artifact_format") != ARTIFACT_FORMAT:
            raise IncompatibleModelError(
                f"model artifact format {document.get('artifact_format')} is not supported by "
                f"this leadscore (expects {ARTIFACT_FORMAT}); retrain with this version"
            )
        if document["spec"].get("version") != SPEC_VERSION:
            raise IncompatibleModelError(
                f"model was built with feature spec version {document['spec'].get('version')}, "
                f"this leadscore builds version {SPEC_VERSION}; retrain with this version"
            )
        booster = lgb.Booster(model_str=(directory / BOOSTER_FILE).read_text(encoding="utf-8"))
        judged_file = directory / JUDGED_BOOSTER_FILE
        judged = (
            lgb.Booster(model_str=judged_file.read_text(encoding="utf-8"))
            if judged_file.is_file()
            else None
        )
        return cls(
            spec=FeatureSpec.from_dict(document["spec"]),
            booster=booster,
            calibrator=Calibrator.from_dict(document["calibrator"]),
            thresholds=Thresholds.from_dict(document["thresholds"]),
            metadata=document.get("metadata", {}),
            drift=DriftReference.from_dict(document["drift"]) if document.get("drift") else None,
            judged=judged,
        )


def describe(
    contrib: np.ndarray,
    features: pd.DataFrame,
    defs: list[FeatureDef],
    max_reasons: int,
    min_contribution: float,
) -> list[str]:
    """Reason texts from per-feature contributions: the ``max_reasons`` largest in absolute
    value that reach ``min_contribution``, with the direction and the lead's value.

    Built slot by slot and feature by feature over arrays (each distinct value is worded
    once), so a million leads take seconds, not a Python loop per lead."""
    n = contrib.shape[0]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :max_reasons]
    rows = np.arange(n)
    texts = np.full(n, "", dtype=object)
    alive = np.ones(n, dtype=bool)
    for slot in range(order.shape[1]):
        which = order[:, slot]
        value = contrib[rows, which]
        alive &= np.abs(value) >= min_contribution
        if not alive.any():
            break
        piece = np.full(n, "", dtype=object)
        for j in np.unique(which[alive]):
            chosen = alive & (which == j)
            d = defs[int(j)]
            words = _worded(d, features[d.name].to_numpy(dtype=object)[chosen])
            sign = np.where(value[chosen] > 0, "+ ", "- ").astype(object)
            piece[chosen] = sign + (d.label + ": ") + words
        first = alive & (texts == "")
        later = alive & ~first
        texts[first] = piece[first]
        texts[later] = texts[later] + "; " + piece[later]
    return texts.tolist()


def _worded(d: FeatureDef, values: np.ndarray) -> np.ndarray:
    """``d.format_value`` of every value, computed once per distinct value."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    table = np.array([d.format_value(u) for u in uniques] + [d.format_value(None)], dtype=object)
    return table[np.where(codes < 0, len(uniques), codes)]
