"""Population stability: what counts as drift, and what is only sampling noise."""

from __future__ import annotations

import numpy as np

from leadscore.models.drift import DriftCounter, DriftReference


def _reference(rng: np.random.Generator, rows: int = 20_000) -> DriftReference:
    numeric = rng.normal(size=rows)
    numeric[rng.random(rows) < 0.2] = np.nan
    codes = rng.integers(-1, 4, size=rows).astype("float64")  # -1 = missing category
    return DriftReference.fit(np.column_stack([numeric, codes]), ["x", "c"], {"c": 4})


def _table(reference: DriftReference, matrix: np.ndarray):  # type: ignore[no-untyped-def]
    counter = DriftCounter(reference)
    half = len(matrix) // 2
    counter.update(matrix[:half])  # chunk by chunk, as a scoring run does
    counter.update(matrix[half:])
    return counter.table(alarm_psi=0.25).set_index("feature")


def test_same_population_is_not_drift_even_in_small_samples() -> None:
    rng = np.random.default_rng(0)
    reference = _reference(rng)
    round_trip = DriftReference.from_dict(reference.to_dict())
    for rows in (60, 500, 20_000):
        numeric = rng.normal(size=rows)
        numeric[rng.random(rows) < 0.2] = np.nan
        codes = rng.integers(-1, 4, size=rows).astype("float64")
        table = _table(round_trip, np.column_stack([numeric, codes]))
        assert not table["shifted"].any(), (rows, table)
        assert (table["psi"] < 4 * table["psi_noise"]).all()


def test_a_real_shift_is_drift() -> None:
    rng = np.random.default_rng(1)
    reference = _reference(rng)
    rows = 5_000
    shifted = rng.normal(loc=1.5, size=rows)  # the numeric feature moved
    codes = rng.integers(-1, 4, size=rows).astype("float64")
    codes[rng.random(rows) < 0.6] = 2.0  # one category took over
    table = _table(reference, np.column_stack([shifted, codes]))
    assert table.loc["x", "shifted"] and table.loc["c", "shifted"]
    assert table.loc["x", "psi"] > 0.5
    assert abs(table.loc["x", "missing_share_now"]) < 1e-12  # no missing values now
    assert abs(table.loc["x", "missing_share_training"] - 0.2) < 0.02
