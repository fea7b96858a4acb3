"""Scoring millions of leads in bounded memory. Leads and activities are split by a hash of
the lead id into buckets on local disk in one streaming pass, then read back one bucket at a
time. A lead and all of its activities always land in the same bucket, so every check that
needs all rows of a lead (duplicate ids, unknown ids, duplicate events) holds inside a bucket,
and a bucket is scored exactly as a whole small table would be.

Inputs that fit in one chunk are read whole, without touching the disk."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather

from leadscore.pipelines.config import Config
from leadscore.pipelines.io.sources import Source
from leadscore.pipelines.io.tables import lead_id_column, lead_ids

log = logging.getLogger(__name__)

ROW = "__leadscore_row__"
ACTIVITY_READ_ROWS = 1_000_000


@dataclass(frozen=True)
class Bucket:
    """Raw (unvalidated) rows of one bucket; index = each row's position in its source."""

    number: int
    leads: pd.DataFrame
    activities: pd.DataFrame | None


def bucket_of(ids: pd.Series, buckets: int) -> np.ndarray:
    """A stable bucket per lead id (the same id, the same bucket, in every run and process):
    SipHash with pandas' fixed key over each distinct id."""
    codes, uniques = pd.factorize(ids)
    hashed = pd.util.hash_array(np.asarray(uniques, dtype=object)) % np.uint64(buckets)
    return hashed.astype("int64")[codes]


def plan(leads: Source, chunk_leads: int) -> int:
    """How many buckets: one per ``chunk_leads`` leads."""
    return max(1, math.ceil(leads.count_rows() / chunk_leads))


def buckets(
    leads: Source,
    activities: Source | None,
    config: Config,
    n_buckets: int,
    chunk_leads: int,
    workdir: Path,
) -> Iterator[Bucket]:
    """The inputs bucket by bucket, in bucket order; rows keep their source order within."""
    lead_order = lead_id_column(config.columns.leads)
    activity_order = lead_id_column(config.columns.activities)
    if n_buckets == 1:
        yield Bucket(
            0,
            leads.read(order_by=lead_order),
            activities.read(order_by=activity_order) if activities is not None else None,
        )
        return
    lead_files = _spill(leads, "leads", config, n_buckets, chunk_leads, lead_order, workdir)
    activity_files = (
        _spill(
            activities,
            "activities",
            config,
            n_buckets,
            ACTIVITY_READ_ROWS,
            activity_order,
            workdir,
        )
        if activities is not None
        else None
    )
    for number in range(n_buckets):
        yield Bucket(
            number,
            lead_files.gather(number),
            activity_files.gather(number) if activity_files is not None else None,
        )


def _spill(
    source: Source,
    kind: str,
    config: Config,
    n_buckets: int,
    read_rows: int,
    order_by: str,
    workdir: Path,
) -> Spill:
    files: list[list[Path]] = [[] for _ in range(n_buckets)]
    folder = workdir / kind
    folder.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for number, chunk in enumerate(source.chunks(read_rows, order_by=order_by)):
        if not columns:
            columns = list(chunk.columns)
        which = bucket_of(lead_ids(chunk, kind, source.label, config), n_buckets)
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(n_buckets + 1))
        with_row = chunk.assign(**{ROW: chunk.index.to_numpy(dtype="int64")})
        for b in range(n_buckets):
            part = with_row.iloc[order[bounds[b] : bounds[b + 1]]]
            if part.empty:
                continue
            path = folder / f"{b:05d}-{number:06d}.arrow"
            # pandas' own Arrow conversion: pyarrow's warns on time-zone-aware columns
            part.reset_index(drop=True).to_feather(path, compression="lz4")
            files[b].append(path)
        if len(chunk):  # a table without rows comes as one empty piece
            log.debug("%s: spilled rows %d..%d", source.label, chunk.index[0], chunk.index[-1])
    return Spill(files, columns)


@dataclass(frozen=True)
class Spill:
    """One table split into bucket files on disk."""

    files: list[list[Path]]
    columns: list[str]

    def gather(self, number: int) -> pd.DataFrame:
        """One bucket's rows back in memory (an empty frame with the source's columns when
        the bucket drew no rows); its files are removed as they are read."""
        return _gather(self.files[number], self.columns)


def _gather(paths: list[Path], columns: list[str]) -> pd.DataFrame:
    if not paths:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    frames = [feather.read_table(p).to_pandas() for p in paths]
    for p in paths:
        p.unlink()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.index = pd.Index(frame.pop(ROW).to_numpy(dtype="int64"))
    return frame
