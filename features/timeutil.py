"""Time helpers shared by the feature code. Times are handled as whole seconds since the
Unix epoch (floored), which keeps "strictly before as-of" exact and cheap."""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def to_epoch_seconds(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Floor tz-aware UTC timestamps to whole epoch seconds as float64 (NaN for missing).

    Flooring both events and as-of times never lets an event at or after as-of count as
    before it: ``floor(t) < floor(as_of)`` implies ``t < as_of``."""
    series = pd.Series(values)
    if series.empty:
        return np.empty(0, dtype="float64")
    seconds = (series - _EPOCH) // pd.Timedelta(seconds=1)
    return seconds.astype("float64").to_numpy()


def to_epoch_micros(values: pd.Series) -> np.ndarray:
    """Exact microseconds since the epoch as int64 (missing as the minimum int64)."""
    return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]").view("int64")


def parse_utc(values: pd.Series) -> pd.Series:
    """Parse ISO 8601 text to tz-aware UTC; values without an offset are taken as UTC.
    Unparsable values become NaT (callers decide whether that is an error)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC")
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return pd.Series(parsed, index=values.index, name=values.name)
