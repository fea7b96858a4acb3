"""Time helpers shared by the feature code. Times are handled as whole seconds since the
Unix epoch (floored), which keeps "strictly before as-of" exact and cheap."""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_FIRST = pd.Timestamp("0001-01-01", tz="UTC")
_LAST = pd.Timestamp("9999-12-31 23:59:59.999999", tz="UTC")
_YEAR = r"\d{4}"  # ISO 8601 text starts with a four-digit year
_BEYOND_MICROS = r"([.,]\d{6})\d+"


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
    Unparsable values become NaT (callers decide whether that is an error), and so do words
    pandas alone would read as the clock's time ("now", "today") and times outside the years
    0001 to 9999 (UTC), which Python's datetime cannot hold. Text is read to the microsecond."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    else:
        text = values.astype("string").str.strip()
        text = text.where(text.str.match(_YEAR, na=False))
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        if parsed.dt.unit == "ns":
            # One nanosecond fraction makes pandas parse the whole column at nanoseconds,
            # whose range (1677 to 2262) would drop valid dates: parse at microseconds.
            text = text.str.replace(_BEYOND_MICROS, r"\1", regex=True)
            parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        parsed = pd.Series(parsed, index=values.index, name=values.name)
    return parsed.where((parsed >= _FIRST) & (parsed <= _LAST))
