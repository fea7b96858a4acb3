"""Fast keys for millions of rows: id lookups and exact-duplicate detection.

pandas hashes strings one Python object at a time when a column is not Arrow-backed; these
helpers use Arrow's compute kernels where they can and plain numpy elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(values: pd.Series | pd.Index) -> pa.Array | pa.ChunkedArray:
    array = values.array
    if isinstance(array, pd.arrays.ArrowStringArray) or hasattr(array, "_pa_array"):
        return array._pa_array  # zero copy
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)


def positions(keys: pd.Series | pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each value in ``keys`` (unique strings), -1 where absent."""
    found = pc.index_in(_arrow(values), value_set=_arrow(keys))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype="int64")


def exact_duplicates(columns: list[np.ndarray]) -> np.ndarray:
    """True for each row that repeats an earlier row exactly (all ``columns`` equal; numeric
    arrays). A 64-bit hash finds the few rows that might repeat; only those are compared
    exactly, so a hash collision can never drop a distinct row."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return np.zeros(0, dtype=bool)
    keys = [np.ascontiguousarray(c) for c in columns]
    digest = np.zeros(n, dtype=np.uint64)
    for i, key in enumerate(keys):
        digest ^= pd.util.hash_array(key) * np.uint64(2 * i + 1)
    maybe = np.flatnonzero(pd.Series(digest).duplicated(keep=False).to_numpy())
    exact = pd.DataFrame({i: key[maybe] for i, key in enumerate(keys)}).duplicated(keep="first")
    duplicate = np.zeros(n, dtype=bool)
    duplicate[maybe[exact.to_numpy()]] = True
    return duplicate
