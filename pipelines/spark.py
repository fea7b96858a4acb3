"""The Spark engine: the same pandas feature and scoring code, run per bucket of leads on a
Spark cluster. Leads and activities are co-partitioned by a hash bucket of the lead id and
cogrouped; each bucket goes through ``score_chunk`` (or the training-row builder) exactly as
a chunk of the local engine does, so the two engines cannot drift apart.

The model is saved once on the driver, broadcast as its files, and loaded once per Python
worker (cached), not once per batch."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leadscore.features import schema
from leadscore.models.scorer import LeadScoringModel
from leadscore.pipelines import tracking
from leadscore.pipelines.chunks import Bucket
from leadscore.pipelines.config import Config
from leadscore.pipelines.errors import InputError, TargetExists
from leadscore.pipelines.sources import PARQUET_SUFFIXES, FileSource, split_table_name
from leadscore.pipelines.tables import lead_id_column
from leadscore.pipelines.targets import STAGING_PREFIX, iso, partition_name

log = logging.getLogger(__name__)

ROW = "__leadscore_row__"
BUCKET = "__leadscore_bucket__"
KIND = "__leadscore_kind__"
_MODELS: dict[str, LeadScoringModel] = {}


def session(master: str | None = None) -> Any:
    """The Spark session from the environment (spark-submit) or ``master`` (``local[2]``)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("leadscore")
    if master:
        builder = builder.master(master)
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", os.environ.get("LEADSCORE_SPARK_PARTITIONS", "8"))
        .config("spark.driver.memory", os.environ.get("LEADSCORE_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def read(spark: Any, location: str) -> Any:
    """A CSV file (every cell as text, like the local engine), a Parquet file or folder, or
    a Spark table name."""
    path = Path(location)
    if path.exists():
        if path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES:
            return spark.read.parquet(str(path))
        options = FileSource(path)._csv_options()
        return (
            spark.read.option("header", True)
            .option("sep", options["sep"])
            .option("encoding", "UTF-8" if options["encoding"] != "latin-1" else "ISO-8859-1")
            .option("multiLine", True)
            .option("escape", '"')
            .option("inferSchema", False)
            .csv(str(path))
        )
    split_table_name(location, "leads/--activities")
    return spark.table(location)


def with_rows(df: Any) -> Any:
    """Each row's position in its source (0-based), for messages and rejects."""
    from pyspark.sql.types import LongType, StructField, StructType

    schema_ = StructType([*df.schema.fields, StructField(ROW, LongType(), False)])
    rdd = df.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1]))
    return df.sparkSession.createDataFrame(rdd, schema_)


def bucketed(df: Any, id_column: str | None, buckets: int) -> Any:
    """The bucket of each row: a hash of the trimmed lead id (or of the row number when the
    export's row number is the id); any stable hash works, as both tables use the same."""
    from pyspark.sql import functions as F

    key = (
        F.trim(F.col(f"`{id_column}`").cast("string"))
        if id_column is not None
        else (F.col(ROW) + 1).cast("string")
    )
    return df.withColumn(BUCKET, F.pmod(F.xxhash64(key), F.lit(buckets)))


def _model_files(model: LeadScoringModel) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp))
        return {p.name: p.read_text(encoding="utf-8") for p in Path(tmp).iterdir()}


def _worker_model(files: dict[str, str]) -> LeadScoringModel:
    """Load the broadcast model once per Python worker."""
    key = hashlib.sha256("".join(files[k] for k in sorted(files)).encode()).hexdigest()
    if key not in _MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in files.items():
                (Path(tmp) / name).write_text(text, encoding="utf-8")
            _MODELS[key] = LeadScoringModel.load(Path(tmp))
    return _MODELS[key]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects: PySpark's Arrow writer does not take pandas 3's
    Arrow-backed (chunked) strings."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(
            out[column]
        ) and not pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    """A group's rows as the local engine reads them: index = row position."""
    out = frame.drop(columns=[BUCKET]).set_index(ROW)
    out.index = pd.Index(out.index.to_numpy(dtype="int64"))
    return out


OUTPUT_SPARK_SCHEMA = (
    f"{KIND} string, lead_id string, probability double, tier string, reasons string, "
    "model_version string, as_of timestamp, source string, row long, reason string"
)
OUTPUT_SPARK_COLUMNS = [field.split()[0] for field in OUTPUT_SPARK_SCHEMA.split(", ")]


@dataclass(frozen=True)
class SparkScoreResult:
    output: Path
    scored: int
    rejected: int
    buckets: int


def _plan(leads: Any, config: Config, spark: Any) -> int:
    n = leads.count()
    return max(math.ceil(n / config.scoring.chunk_leads), spark.sparkContext.defaultParallelism)


def _prepare(
    spark: Any, leads_location: str, activities_location: str | None, config: Config
) -> tuple[Any, Any | None, int]:
    leads = with_rows(read(spark, leads_location))
    id_raw = None if config.export.row_number_as_lead_id else lead_id_column(config.columns.leads)
    if id_raw is not None and id_raw not in leads.columns:
        raise InputError(leads_location, "required column is missing", column=id_raw)
    buckets = _plan(leads, config, spark)
    leads = bucketed(leads, id_raw, buckets)
    activities = None
    if activities_location is not None:
        activities = with_rows(read(spark, activities_location))
        act_id = lead_id_column(config.columns.activities)
        if act_id not in activities.columns:
            raise InputError(activities_location, "required column is missing", column=act_id)
        activities = bucketed(activities, act_id, buckets)
    return leads, activities, buckets


def _apply(
    leads: Any,
    activities: Any | None,
    function: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame],
    spark_schema: str,
) -> Any:
    if activities is None:
        return leads.groupBy(BUCKET).applyInPandas(
            lambda frame: function(frame, None), spark_schema
        )
    return (
        leads.groupBy(BUCKET)
        .cogroup(activities.groupBy(BUCKET))
        .applyInPandas(function, spark_schema)
    )


def score_spark(
    spark: Any,
    leads_location: str,
    activities_location: str | None,
    as_of: pd.Timestamp,
    output: Path,
    model_uri: str,
    config: Config,
    force: bool = False,
) -> SparkScoreResult:
    """Score on Spark into a Parquet folder with one partition per as-of (as the local
    engine's folder target); rejects under ``_rejects/``."""
    from leadscore.pipelines.score import score_chunk

    resolved = tracking.load_model(model_uri)
    final = output / partition_name(as_of)
    if final.exists() and not force:
        raise TargetExists(
            f"{output} already holds scores as of {iso(as_of)}; nothing was written. "
            "Pass --force to replace"
        )
    files = spark.sparkContext.broadcast(_model_files(resolved.model))
    labels = (leads_location, activities_location or "activities")
    version = resolved.label

    def score_group(leads_pdf: pd.DataFrame, acts_pdf: pd.DataFrame | None) -> pd.DataFrame:
        if leads_pdf.empty and (acts_pdf is None or acts_pdf.empty):
            return pd.DataFrame(columns=OUTPUT_SPARK_COLUMNS)
        model = _worker_model(files.value)
        bucket = Bucket(0, _raw(leads_pdf), _raw(acts_pdf) if acts_pdf is not None else None)
        part = score_chunk(bucket, labels, as_of, model, version, config, partial=True)
        scores = part.scores.assign(**{KIND: "score", "source": None, "row": None, "reason": None})
        rejects = part.rejects.assign(
            **{KIND: "reject", schema.PROBABILITY: None, schema.TIER: None,
               schema.REASONS: None, schema.MODEL_VERSION: version, schema.AS_OF: as_of}
        )  # fmt: skip
        out = pd.concat([scores, rejects], ignore_index=True)
        out[schema.AS_OF] = pd.to_datetime(out[schema.AS_OF], utc=True).dt.tz_convert(None)
        return _plain(out[OUTPUT_SPARK_COLUMNS])

    leads, activities, buckets = _prepare(spark, leads_location, activities_location, config)
    result = _apply(leads, activities, score_group, OUTPUT_SPARK_SCHEMA).cache()
    try:
        output.mkdir(parents=True, exist_ok=True)
        staging = output / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        scores = result.filter(result[KIND] == "score").select(*schema.OUTPUT_COLUMNS)
        rejects = result.filter(result[KIND] == "reject").select(
            "source", "row", schema.LEAD_ID, "reason"
        )
        scores.orderBy(schema.LEAD_ID).write.parquet(str(staging / "scores"))
        rejects.orderBy("source", "row").write.parquet(str(staging / "rejects"))
        n_scores, n_rejects = scores.count(), rejects.count()
        _swap(staging / "rejects", output / "_rejects" / partition_name(as_of))
        _swap(staging / "scores", final)
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        result.unpersist()
    log.info("Scored %d leads on Spark in %d buckets -> %s", n_scores, buckets, final)
    return SparkScoreResult(final, n_scores, n_rejects, buckets)


def _swap(ready: Path, final: Path) -> None:
    """Put a written folder in place; an old one is moved aside first, then removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex}")
    if final.exists():
        os.replace(final, old)
    os.replace(ready, final)
    shutil.rmtree(old, ignore_errors=True)


def training_features_spark(
    spark: Any,
    leads_location: str,
    activities_location: str | None,
    config: Config,
    spec: Any,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """Training rows (``training_rows``) with their features, built bucket by bucket on
    Spark for a feature spec and data end learned beforehand (``fit_spec``, ``data_end``);
    sorted by lead and as-of time. Rows need a lead's full history, so a bucket holds all of
    a lead's activities, as in scoring."""
    from leadscore.features.build import build_features
    from leadscore.features.snapshots import LABEL, ORDER_TIME, WEIGHT, training_rows
    from leadscore.pipelines.tables import prepare_tables

    split = config.split
    labels = (leads_location, activities_location or "activities")
    names = [schema.LEAD_ID, schema.AS_OF, LABEL, WEIGHT, ORDER_TIME, *spec.feature_names]
    types = {schema.LEAD_ID: "string", schema.AS_OF: "timestamp", LABEL: "int"}
    spark_schema = ", ".join(
        f"`{n}` {types.get(n, 'string' if n in spec.categories else 'double')}" for n in names
    )

    def rows_group(leads_pdf: pd.DataFrame, acts_pdf: pd.DataFrame | None) -> pd.DataFrame:
        if leads_pdf.empty:
            return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        tables = prepare_tables(
            _raw(leads_pdf),
            _raw(acts_pdf) if acts_pdf is not None else None,
            config,
            labels[0],
            labels[1],
            allow_no_leads=True,
        )
        rows = training_rows(
            tables.leads,
            every_days=split.snapshot_every_days,
            max_rows_per_lead=split.max_rows_per_lead,
            no_close_date_horizon_days=split.no_close_date_horizon_days,
            data_end=data_end,
        )
        if config.export.row_order_is_time:
            position = pd.Series(tables.leads.index.to_numpy(), index=tables.leads[schema.LEAD_ID])
            rows[ORDER_TIME] = rows[schema.LEAD_ID].map(position).to_numpy(dtype=float)
        features = build_features(tables.leads, tables.activities, rows, spec)
        out = pd.concat([rows.reset_index(drop=True), features.reset_index(drop=True)], axis=1)
        out[schema.AS_OF] = pd.to_datetime(out[schema.AS_OF], utc=True).dt.tz_convert(None)
        out[LABEL] = out[LABEL].astype("int32")
        for name in spec.categories:
            out[name] = out[name].astype(object)
        return _plain(out[names])

    leads, activities, _ = _prepare(spark, leads_location, activities_location, config)
    with tempfile.TemporaryDirectory(prefix="leadscore-spark-") as tmp:
        # Through Parquet rather than toPandas: bounded driver memory, and PySpark's
        # toPandas trips over pandas 3 deprecations.
        _apply(leads, activities, rows_group, spark_schema).write.parquet(f"{tmp}/rows")
        frame = pd.read_parquet(f"{tmp}/rows")
    frame[schema.AS_OF] = pd.to_datetime(frame[schema.AS_OF], utc=True)
    return frame.sort_values([schema.LEAD_ID, schema.AS_OF], kind="stable").reset_index(drop=True)
