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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from leadscore.features import schema
from leadscore.features.build import FeatureSpec
from leadscore.features.snapshots import Inflow
from leadscore.models.scorer import LeadScoringModel
from leadscore.pipelines.config import Config
from leadscore.pipelines.errors import InputError, TargetExists
from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.chunks import Bucket
from leadscore.pipelines.io.sources import PARQUET_SUFFIXES, FileSource, split_table_name
from leadscore.pipelines.io.tables import (
    LeadFaults,
    config_for_model,
    fault_kinds,
    lead_id_column,
)
from leadscore.pipelines.io.targets import STAGING_PREFIX, iso, partition_name

log = logging.getLogger(__name__)

ROW = "__leadscore_row__"
BUCKET = "__leadscore_bucket__"
KIND = "__leadscore_kind__"
_MODELS: dict[str, LeadScoringModel] = {}


def session(master: str | None = None) -> Any:
    """The Spark session from the environment (spark-submit) or ``master`` (``local[2]``).
    Only a session started here for ``master`` defaults its Python workers to this Python;
    under spark-submit the cluster's configuration decides (``spark.pyspark.python``)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("leadscore")
    if master:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.master(master)
    if os.environ.get("LEADSCORE_SPARK_WAREHOUSE"):
        builder = builder.config("spark.sql.warehouse.dir", os.environ["LEADSCORE_SPARK_WAREHOUSE"])
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
    out = frame.drop(columns=[BUCKET], errors="ignore").set_index(ROW)
    out.index = pd.Index(out.index.to_numpy(dtype="int64"))
    return out


class RemoteInputError(InputError):
    """An input error raised inside a Spark task, surfaced on the driver with its message."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.source, self.column = "", None
        self.rows: list[int] = []


_MARK = "<<leadscore-input-error>>"


def _reporting_input_errors(
    function: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame],
) -> Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame]:
    """Run a bucket function so that an InputError reaches the driver recognisably (Spark
    wraps task failures in its own exception with the Python traceback as text)."""

    def run(leads_pdf: pd.DataFrame, acts_pdf: pd.DataFrame | None) -> pd.DataFrame:
        try:
            return function(leads_pdf, acts_pdf)
        except InputError as exc:
            raise RuntimeError(f"{_MARK}{exc}{_MARK}") from None

    return run


def _driver_errors(action: Callable[[], Any]) -> Any:
    """Run a Spark action; an InputError from a task is raised again as one on the driver."""
    try:
        return action()
    except Exception as exc:
        text = str(exc)
        if _MARK in text:
            raise RemoteInputError(text.split(_MARK)[1]) from None
        raise


def _to_pandas(df: Any) -> pd.DataFrame:
    """A Spark frame on the driver, through Parquet rather than toPandas: PySpark's toPandas
    trips over pandas 3 deprecations."""
    with tempfile.TemporaryDirectory(prefix="leadscore-spark-") as tmp:
        _driver_errors(lambda: df.write.parquet(f"{tmp}/frame"))
        return pd.read_parquet(f"{tmp}/frame")


OUTPUT_SPARK_SCHEMA = (
    f"{KIND} string, lead_id string, probability double, tier string, reasons string, "
    "model_version string, as_of timestamp, source string, row long, reason string"
)
OUTPUT_SPARK_COLUMNS = [field.split()[0] for field in OUTPUT_SPARK_SCHEMA.split(", ")]


@dataclass(frozen=True)
class SparkScoreResult:
    output: str
    rejects_output: str
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
    function = _reporting_input_errors(function)
    if activities is None:
        return leads.groupBy(BUCKET).applyInPandas(
            lambda frame: function(frame, None), spark_schema
        )
    return (
        leads.groupBy(BUCKET)
        .cogroup(activities.groupBy(BUCKET))
        .applyInPandas(function, spark_schema)
    )


CATALOG = "spark"  # --output-db value meaning "a table in the Spark session's catalog"


def scores_to_table(output: str, output_db: str | None, db: str | None) -> bool:
    """Check what ``score --engine spark`` was asked to read and write: files or Spark
    tables in; a Parquet folder or (``--output-db spark``) a Spark table out. True for a
    table. Needs no PySpark, so a wrong call is told so before anything is imported."""
    table = output_db == CATALOG
    if (
        db is not None
        or (output_db is not None and not table)
        or (not table and Path(output).suffix)
    ):
        raise InputError(
            "--engine spark",
            "reads files or Spark tables and writes a Parquet folder or a Spark table",
            expected=f"--output FOLDER, or --output-db {CATALOG} --output [DB.]TABLE; no --db",
        )
    return table


def score_spark(
    spark: Any,
    leads_location: str,
    activities_location: str | None,
    as_of: pd.Timestamp,
    output: str,
    model_uri: str,
    config: Config | None,
    force: bool = False,
    table: bool = False,
) -> SparkScoreResult:
    """Score on Spark into a Parquet folder with one partition per as-of (as the local
    engine's folder target; rejects under ``_rejects/``) or, with ``table``, into a Spark
    table (rows per as-of; rejects in ``<table>_rejects``). ``config`` None: the export is
    read with the column mapping stored with the model (see ``config_for_model``). Leads
    with row-level faults are set aside bucket by bucket; their share is judged over the
    whole table on the driver before anything is written."""
    from leadscore.pipelines.score import score_chunk

    if table:
        split_table_name(output, "--output")
        exists = _table_has_as_of(spark, output, as_of)
    else:
        exists = (Path(output) / partition_name(as_of)).exists()
    if exists and not force:
        raise TargetExists(
            f"{output} already holds scores as of {iso(as_of)}; nothing was written. "
            "Pass --force to replace"
        )
    resolved = tracking.load_model(model_uri)
    reading = config_for_model(config, resolved.model.reading, resolved.label)
    files = spark.sparkContext.broadcast(_model_files(resolved.model))
    labels = (leads_location, activities_location or "activities")
    version = resolved.label

    def score_group(leads_pdf: pd.DataFrame, acts_pdf: pd.DataFrame | None) -> pd.DataFrame:
        if leads_pdf.empty and (acts_pdf is None or acts_pdf.empty):
            return pd.DataFrame(columns=OUTPUT_SPARK_COLUMNS)
        model = _worker_model(files.value)
        bucket = Bucket(0, _raw(leads_pdf), _raw(acts_pdf) if acts_pdf is not None else None)
        part = score_chunk(bucket, labels, as_of, model, version, reading, partial=True)
        scores = part.scores.assign(**{KIND: "score", "source": None, "row": None, "reason": None})
        rejects = part.rejects.assign(
            **{KIND: "reject", schema.PROBABILITY: None, schema.TIER: None,
               schema.REASONS: None, schema.MODEL_VERSION: version, schema.AS_OF: as_of}
        )  # fmt: skip
        out = pd.concat([scores, rejects], ignore_index=True)
        out[schema.AS_OF] = pd.to_datetime(out[schema.AS_OF], utc=True).dt.tz_convert(None)
        return _plain(out[OUTPUT_SPARK_COLUMNS])

    leads, activities, buckets = _prepare(spark, leads_location, activities_location, reading)
    result = _apply(leads, activities, score_group, OUTPUT_SPARK_SCHEMA).cache()
    try:
        _driver_errors(result.count)  # score once; input errors surface before any write
        _judge_lead_faults(result, leads, leads_location, reading)
        scores = result.filter(result[KIND] == "score").select(*schema.OUTPUT_COLUMNS)
        rejects = result.filter(result[KIND] == "reject").select(
            "source", "row", schema.LEAD_ID, "reason", schema.AS_OF
        )
        n_scores, n_rejects = scores.count(), rejects.count()
        if table:
            written = _write_tables(spark, scores, rejects, output)
        else:
            written = _write_folder(scores, rejects.drop(schema.AS_OF), Path(output), as_of)
    finally:
        result.unpersist()
    log.info("Scored %d leads on Spark in %d buckets -> %s", n_scores, buckets, written[0])
    return SparkScoreResult(*written, n_scores, n_rejects, buckets)


def _judge_lead_faults(result: Any, leads: Any, source: str, config: Config) -> None:
    """Stop (``InputError``) when the leads the buckets set aside for row-level faults are
    more than ``export.max_rejected_share`` of the whole leads table."""
    from pyspark.sql import functions as F

    reasons = [kind.reason for kind in fault_kinds(config.outcome_values)]
    faults = result.filter(
        (result[KIND] == "reject")
        & (result["source"] == source)
        & F.split(result["reason"], "; ").getItem(0).isin(reasons)
    )
    rejected = faults.count()
    if not rejected:
        return
    rows = leads.count()
    if rejected <= config.export.max_rejected_share * rows:
        return
    found = _to_pandas(faults.select("row", "reason"))
    LeadFaults.from_rejects(found, rows, config.outcome_values).check(
        source, config.export.max_rejected_share
    )


def _write_folder(scores: Any, rejects: Any, output: Path, as_of: pd.Timestamp) -> tuple[str, str]:
    """Both parts written beside their place, then renamed in: rejects first, scores last."""
    output.mkdir(parents=True, exist_ok=True)
    staging = output / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    final = output / partition_name(as_of)
    rejects_final = output / "_rejects" / partition_name(as_of)
    try:
        scores.orderBy(schema.LEAD_ID).write.parquet(str(staging / "scores"))
        rejects.orderBy("source", "row").write.parquet(str(staging / "rejects"))
        _swap(staging / "rejects", rejects_final)
        _swap(staging / "scores", final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(final), str(rejects_final)


def _table_has_as_of(spark: Any, table: str, as_of: pd.Timestamp) -> bool:
    from pyspark.sql import functions as F

    if not spark.catalog.tableExists(table):
        return False
    naive = as_of.tz_convert("UTC").tz_localize(None).to_pydatetime()
    rows = spark.table(table).where(F.col(schema.AS_OF) == F.lit(naive)).limit(1)
    return bool(rows.count())


def _write_tables(spark: Any, scores: Any, rejects: Any, table: str) -> tuple[str, str]:
    """Rows per as-of in Spark tables partitioned by ``as_of``: a rerun overwrites its own
    as-of partition only (dynamic partition overwrite), committed by Spark's output
    committer when the job succeeds; rejects first, scores last. For transactions across
    readers use a table format with them (Delta, Iceberg) through the same catalog."""
    rejects_table = f"{table}_rejects"
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    for frame, name in ((rejects, rejects_table), (scores, table)):
        if spark.catalog.tableExists(name):
            frame.write.mode("overwrite").insertInto(name)
        else:
            frame.write.format("parquet").partitionBy(schema.AS_OF).saveAsTable(name)
    return table, rejects_table


def _swap(ready: Path, final: Path) -> None:
    """Put a written folder in place; an old one is moved aside first, then removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex}")
    if final.exists():
        os.replace(final, old)
    os.replace(ready, final)
    shutil.rmtree(old, ignore_errors=True)


SUMMARY_SCHEMA = "type string, rows long, with_value long, latest timestamp, has_value boolean"


@dataclass(frozen=True)
class Learned:
    """What training learns from the whole tables before any row is built."""

    spec: FeatureSpec
    data_end: pd.Timestamp
    inflow: Inflow | None  # of the whole leads table: training rows are weighted against it


def learn(
    spark: Any,
    prepared: tuple[Any, Any | None, int],
    labels: tuple[str, str],
    config: Config,
) -> Learned:
    """The feature spec and the data end, learned as the local engine learns them: the leads
    (one row per lead) are validated on the driver; the activities, the large table, are
    summarised bucket by bucket (rows and values per activity type, latest time) and the
    summaries added up (``ActivitySummary.combine``)."""
    from leadscore.features.build import ActivitySummary, fit_spec_from
    from leadscore.pipelines.fitting import data_end_of, lead_inflow, time_order
    from leadscore.pipelines.io.tables import prepare_tables, validate_leads

    leads, activities, _ = prepared
    raw = _to_pandas(leads.drop(BUCKET)).sort_values(ROW)
    validated = validate_leads(_raw(raw), labels[0], config).leads  # judged on the whole table
    summary = None
    if activities is not None:

        def summarise(leads_pdf: pd.DataFrame, acts_pdf: pd.DataFrame | None) -> pd.DataFrame:
            tables = prepare_tables(
                _raw(leads_pdf), _raw(acts_pdf) if acts_pdf is not None else None,
                config, *labels, allow_no_leads=True, judge=False,
            )  # fmt: skip
            if tables.activities is None or tables.activities.empty:
                return pd.DataFrame(columns=[f.split()[0] for f in SUMMARY_SCHEMA.split(", ")])
            part = ActivitySummary.of(tables.activities)
            out = part.counts.reset_index(names="type").assign(has_value=part.has_value)
            out["latest"] = out["latest"].dt.tz_convert(None)
            return _plain(out)

        parts = _to_pandas(_apply(leads, activities, summarise, SUMMARY_SCHEMA))
        parts["latest"] = pd.to_datetime(parts["latest"], utc=True)
        summary = ActivitySummary.combine(
            [ActivitySummary(parts.set_index("type").drop(columns="has_value"),
                             bool(parts["has_value"].any()))]
        )  # fmt: skip
    spec = fit_spec_from(validated, summary, config.features, time_order(validated, config))
    end = data_end_of(validated, summary.latest if summary is not None else None)
    return Learned(spec, end, lead_inflow(validated))


def training_rows_spark(
    spark: Any,
    leads_location: str,
    activities_location: str | None,
    config: Config,
    spec: FeatureSpec | None = None,
) -> tuple[Any, Learned]:
    """Training rows (``training_rows``) with their features as a Spark frame, built bucket
    by bucket with the feature spec learned from the whole tables (``learn``) or the one
    given (a model's). Rows need a lead's full history, so a bucket holds all of a lead's
    activities, as in scoring."""
    from leadscore.features.build import build_features
    from leadscore.features.snapshots import LABEL, ORDER_TIME, WEIGHT
    from leadscore.pipelines.fitting import snapshot_rows
    from leadscore.pipelines.io.tables import prepare_tables

    labels = (leads_location, activities_location or "activities")
    prepared = _prepare(spark, leads_location, activities_location, config)
    learned = learn(spark, prepared, labels, config)
    if spec is not None:
        learned = replace(learned, spec=spec)
    spec_, end = learned.spec, learned.data_end
    names = [schema.LEAD_ID, schema.AS_OF, LABEL, WEIGHT, ORDER_TIME, *spec_.feature_names]
    types = {schema.LEAD_ID: "string", schema.AS_OF: "timestamp", LABEL: "int"}
    spark_schema = ", ".join(
        f"`{n}` {types.get(n, 'string' if n in spec_.categories else 'double')}" for n in names
    )

    def rows_group(leads_pdf: pd.DataFrame, acts_pdf: pd.DataFrame | None) -> pd.DataFrame:
        if leads_pdf.empty:
            return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        # the driver judged the share of leads with row-level faults in `learn`
        tables = prepare_tables(
            _raw(leads_pdf), _raw(acts_pdf) if acts_pdf is not None else None,
            config, *labels, allow_no_leads=True, judge=False,
        )  # fmt: skip
        rows = snapshot_rows(tables.leads, config, end, learned.inflow)
        features = build_features(tables.leads, tables.activities, rows, spec_)
        out = pd.concat([rows.reset_index(drop=True), features.reset_index(drop=True)], axis=1)
        out[schema.AS_OF] = pd.to_datetime(out[schema.AS_OF], utc=True).dt.tz_convert(None)
        out[LABEL] = out[LABEL].astype("int32")
        for name in spec_.categories:
            out[name] = out[name].astype(object)
        return _plain(out[names])

    leads, activities, _ = prepared
    return _apply(leads, activities, rows_group, spark_schema), learned


def write_training_rows_spark(
    spark: Any,
    leads_location: str,
    activities_location: str | None,
    output: Path,
    config: Config,
    spec: FeatureSpec | None = None,
) -> tuple[int, Learned]:
    """Training rows and features into a Parquet folder (sorted by lead and as-of time),
    published whole: written beside the target, then renamed into place."""
    rows, learned = training_rows_spark(spark, leads_location, activities_location, config, spec)
    staging = output.parent / f"{STAGING_PREFIX}{output.name}-{uuid.uuid4().hex}"
    try:
        _driver_errors(
            lambda: rows.orderBy(schema.LEAD_ID, schema.AS_OF).write.parquet(str(staging))
        )
        count = spark.read.parquet(str(staging)).count()
        _swap(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return count, learned
