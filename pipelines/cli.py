"""The `leadscore` command line: parse, build config, configure logging, call a job.

Exit codes: 0 ok; 2 bad input (file, column, row and what was expected are named) or a
refused invocation (scores for the as-of exist and no --force), nothing written; 3 drift
alarm (scores were written); 1 anything else (no model in the registry, a database or
registry out of reach, another run holding the target's lock)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from leadscore.pipelines.config import Config, ConfigError, load_config, with_outcome

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_DRIFT = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Lead conversion predictor: train a calibrated model on won/lost leads, score open "
    "leads into SQL / MQL / unqualified with reasons.",
)
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("leadscore")

LeadsOpt = Annotated[Path, typer.Option("--leads", help="Leads table: CSV or Parquet.")]
ActivitiesOpt = Annotated[
    Path | None, typer.Option("--activities", help="Activities table: CSV or Parquet (optional).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="YAML config: column mapping, outcome spellings, policies."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record."""

    @property
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # type: ignore[no-untyped-def]
        pass


def _setup_logging(quiet: bool, verbose: bool) -> None:
    """Rich output on a terminal, plain timestamped lines under cron; set once per command
    on the ``leadscore`` logger only."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if err_console.is_terminal:
        handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("leadscore")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    for noisy in ("mlflow", "alembic", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _run(job):  # type: ignore[no-untyped-def]
    """Run a job, mapping known failures onto exit codes with a clear message."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from leadscore.pipelines.errors import (
        InputError,
        SourceUnavailable,
        StorageFull,
        TargetBusy,
        TargetExists,
    )
    from leadscore.pipelines.io.tracking import ModelResolutionError

    try:
        return job()
    except (InputError, ConfigError, TargetExists) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    except (ModelResolutionError, SourceUnavailable, StorageFull, TargetBusy) as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    except MlflowException as exc:  # e.g. the tracking server went away in the middle of a run
        raise _fail(
            f"MLflow at {mlflow.get_tracking_uri()} failed or went out of reach, so the job "
            f"stopped: {exc.message}",
            EXIT_FAILURE,
        ) from None


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for leads.csv and activities.csv.")],
    leads: Annotated[int, typer.Option("--leads", min=1, help="Number of leads.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same world.")] = 42,
    now: Annotated[
        str, typer.Option("--now", help="The export's date: later outcomes stay open.")
    ] = "2026-06-30",
    truth: Annotated[
        bool, typer.Option("--truth/--no-truth", help="Also write truth.csv with every outcome.")
    ] = False,
    dialect: Annotated[
        str,
        typer.Option(
            "--dialect",
            help="Export kind: canonical (the data contract), hubspot, salesforce, marketo, "
            "pipedrive, flat (one row per lead, no activities.csv) or german; each but "
            "canonical plants the traps real exports have.",
        ),
    ] = "canonical",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write a synthetic CRM export (leads.csv, activities.csv) in the data contract, or as
    a CRM of the export zoo writes it (--dialect)."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.dialects import DIALECTS, describe, write_export
    from leadscore.pipelines.io.tables import parse_as_of
    from leadscore.pipelines.synthetic import generate as make_world

    if dialect not in DIALECTS:
        raise typer.BadParameter(
            f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}",
            param_hint="--dialect",
        )

    def job() -> None:
        world = make_world(leads, seed, parse_as_of(now))
        paths = write_export(world, out, dialect, with_truth=truth)
        n_open = int((world.leads["outcome"] == "").sum())
        flat = all(p.name != "activities.csv" for p in paths)
        acts = "no activities table" if flat else f"{len(world.activities)} activities"
        console.print(
            f"Wrote {len(world.leads)} leads ({n_open} open as of {world.now.date()}) and "
            f"{acts}: " + ", ".join(str(p) for p in paths)
        )
        if dialect != "canonical":
            console.print(describe(dialect), highlight=False)

    _run(job)


DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="LEADSCORE_DB",
        help="Read --leads/--activities from this database (SQLAlchemy URL, e.g. "
        "postgresql://user@host/crm); they then name tables or .sql query files. "
        "Keep passwords in the environment variable.",
    ),
]


OutcomeOpt = Annotated[
    str | None,
    typer.Option(
        "--outcome",
        help="The export's outcome column, when inspect found more than one candidate "
        "(overrides the config's mapping and settles its outcome question).",
    ),
]


def _config_with(path: Path | None, outcome: str | None) -> Config:
    config = load_config(path)
    return with_outcome(config, outcome) if outcome else config


@app.command()
def train(
    leads: Annotated[
        str,
        typer.Option(
            "--leads", help="Leads: CSV or Parquet file/folder, or with --db a table or .sql file."
        ),
    ],
    activities: Annotated[
        str | None,
        typer.Option(
            "--activities", help="Activities: file or folder, or with --db a table or .sql file."
        ),
    ] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    outcome: OutcomeOpt = None,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Make the new model the champion even when the current champion cannot be "
            "compared (registry unreadable, champion not loadable). Without it such a run "
            "registers the model as `challenger` and exits with code 1. A champion that "
            "can be compared and is better is never replaced.",
        ),
    ] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Train on closed leads, calibrate on recent ones, learn MQL/SQL thresholds, judge on
    the most recent, and register the model in MLflow (alias `champion` if not worse).

    Exit codes: 0 ok (promoted, or a worse model kept as challenger); 2 bad input; 1 anything
    else, including a registered model left as challenger because the champion could not be
    read or loaded (fails closed: see --promote)."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.sources import as_source
    from leadscore.pipelines.train import train as run_train

    def job() -> None:
        cfg = _config_with(config, outcome)
        leads_source = as_source(leads, db)
        activities_source = as_source(activities, db) if activities is not None else None
        uri = tracking.configure_tracking()
        with _progress(quiet, "Training:") as progress:
            result = run_train(
                leads_source, activities_source, cfg, promote=promote, progress=progress
            )
        console.print(_metric_table(
            f"Most recent period ({result.split})",
            {"LightGBM (calibrated)": result.metrics, "logistic baseline": result.baseline_metrics},
        ))  # fmt: skip
        if result.backtest is not None and not result.backtest.empty:
            console.print(_metric_table(
                "Rolling-origin backtest (all folds pooled)",
                {r["model"]: r for r in result.backtest.to_dict("records")},
            ))  # fmt: skip
        console.print(
            _tier_table(
                result.tier_table_out_of_time,
                "Out-of-time check: thresholds learned on the calibration period, "
                "applied to the most recent leads",
            )
        )
        console.print(
            _tier_table(
                result.tier_table,
                "Tiers of the registered model (thresholds learned on the most recent leads)",
            )
        )
        if result.tier_changes is not None:
            moved = int(
                result.tier_changes.to_numpy().sum() - result.tier_changes.to_numpy().trace()
            )
            console.print(
                f"Open leads changing tier against the champion: {moved} of "
                f"{int(result.tier_changes.to_numpy().sum())}\n{result.tier_changes.to_string()}"
            )
        console.print(
            "Seconds per stage: "
            + ", ".join(f"{name} {sec:.1f}" for name, sec in result.seconds.items())
        )
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}")
        for leak in result.leaks:
            console.print(f"[bold red]{leak}[/]", highlight=False)
        status = "champion" if result.is_champion else "challenger, not promoted"
        console.print(
            f"Registered [bold]{result.model_name}[/] v{result.version} ({status}: "
            f"{result.champion_reason}). MLflow run {result.run_id} in {uri}"
        )
        if result.gate_failure is not None:
            raise _fail(
                f"{result.model_name} v{result.version} was registered with alias "
                f"`challenger`, but the champion was NOT replaced ({result.gate_failure}). "
                "Once the registry / champion is fixed, "
                f"promote it with `leadscore promote --version {result.version}`, or retrain "
                "with --promote to replace the champion without comparing.",
                EXIT_FAILURE,
            )

    _run(job)


METRICS_SHOWN = (
    "roc_auc", "pr_auc", "log_loss", "brier", "ece", "precision_top10", "recall_top10",
    "lift_top10",
)  # fmt: skip
FOLD_MEANS_SHOWN = ("roc_auc_fold_mean", "pr_auc_fold_mean")  # backtests only


def _metric_table(title: str, columns: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    shown = METRICS_SHOWN + tuple(
        key for key in FOLD_MEANS_SHOWN if any(key in values for values in columns.values())
    )
    for key in shown:
        table.add_row(key, *(f"{values.get(key, float('nan')):.4f}" for values in columns.values()))
    return table


def _tier_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in ("tier", "from p >=", "share of leads", "win rate (95% CI)", "share of wins"):
        table.add_column(column, justify="left" if column == "tier" else "right")
    for row in frame.itertuples():
        table.add_row(
            str(row.tier),
            f"{row.threshold:.3f}",
            f"{row.share_of_leads:.1%}",
            f"{row.win_rate:.1%} ({row.win_rate_low:.0%}-{row.win_rate_high:.0%})",
            f"{row.share_of_wins:.1%}",
        )
    return table


@app.command()
def score(
    leads: Annotated[
        str,
        typer.Option(
            "--leads", help="Leads: CSV or Parquet file/folder, or with --db a table or .sql file."
        ),
    ],
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of", help="Score leads open at this time (ISO 8601; 'today' = today 00:00 UTC)."
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            help="Scores: a .csv/.parquet file (one run), a folder (a Parquet partition per "
            "as-of), or with --output-db a table (rows per as-of).",
        ),
    ],
    activities: Annotated[
        str | None,
        typer.Option(
            "--activities", help="Activities: file or folder, or with --db a table or .sql file."
        ),
    ] = None,
    db: DbOpt = None,
    output_db: Annotated[
        str | None,
        typer.Option(
            "--output-db",
            envvar="LEADSCORE_OUTPUT_DB",
            help="Write scores to a table in this database (SQLAlchemy URL); with --engine "
            "spark, 'spark' = the Spark session's catalog.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace scores that already exist for this as-of."),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", help="MLflow model URI [default: models:/<name>@champion]."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local (this machine, chunked) or spark (pip install '.[spark]'; Parquet, CSV "
            "or Spark tables in, a Parquet folder or a Spark table out).",
        ),
    ] = "local",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="Spark master for --engine spark, e.g. local[2] [default: from spark-submit].",
        ),
    ] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score every lead open as of a date: probability, tier, reasons, model version.

    Exit codes: 0 ok, 2 bad input or scores exist without --force (nothing written),
    3 drift alarm (scores written), 1 anything else (nothing written)."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.errors import InputError
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.sources import as_source
    from leadscore.pipelines.io.tables import parse_as_of
    from leadscore.pipelines.io.targets import as_target
    from leadscore.pipelines.score import score as run_score

    def job() -> int:
        # No --config: the export is read as the model's training export was (its stored
        # column mapping, outcome spellings and export settings); the rest is defaults.
        given = load_config(config) if config is not None else None
        cfg = given or Config()
        when = parse_as_of(as_of)
        if engine not in ("local", "spark"):
            raise InputError("--engine", f"unknown engine {engine!r}", expected="local or spark")
        if engine == "spark":
            return _score_on_spark(
                leads, activities, when, output, output_db, db, model, spark_master, force, given
            )
        target = as_target(output, output_db)
        leads_source = as_source(leads, db)
        activities_source = as_source(activities, db) if activities is not None else None
        uri = tracking.model_uri(model, cfg.registry.model_name)
        with _progress(quiet) as progress:
            result = run_score(
                leads_source,
                activities_source,
                when,
                target,
                uri,
                given,
                force=force,
                progress=progress,
            )
        table = Table(title=f"Open leads as of {when.isoformat()} ({result.model_version})")
        table.add_column("tier")
        table.add_column("leads", justify="right")
        for tier, count in result.tier_counts.items():
            table.add_row(tier, str(count))
        if not quiet:
            console.print(table)
            console.print(
                f"Wrote {result.scored} scores to {result.target}; {result.rejected} rejected "
                f"rows to {result.rejects_target}; {result.not_open} leads already closed. "
                f"Run record: MLflow run {result.run_id}."
            )
        if result.drift_alarm:
            err_console.print(
                f"[bold yellow]drift alarm:[/] {len(result.drift_alarm)} features moved beyond "
                f"PSI {cfg.scoring.drift_alarm_psi:g} against the training data "
                f"({', '.join(result.drift_alarm[:5])}); scores were written. Check the "
                "inputs, then consider retraining.",
                highlight=False,
                soft_wrap=True,
            )
            return EXIT_DRIFT
        return EXIT_OK

    code = _run(job)
    if code:
        raise typer.Exit(code)


def _spark() -> tuple[Any, Any]:
    """(session factory, the Spark engine module), or a clear error without PySpark."""
    from leadscore.pipelines.errors import InputError

    try:
        import pyspark  # noqa: F401  (the engine module imports it only when used)

        from leadscore.pipelines import spark
    except ImportError as exc:
        raise InputError(
            "--engine spark", f"PySpark is not installed ({exc})", expected="pip install '.[spark]'"
        ) from exc
    return spark.session, spark


def _score_on_spark(
    leads: str,
    activities: str | None,
    when: pd.Timestamp,
    output: str,
    output_db: str | None,
    db: str | None,
    model: str | None,
    master: str | None,
    force: bool,
    cfg: Config | None,
) -> int:
    from leadscore.pipelines import spark
    from leadscore.pipelines.io import tracking

    table = spark.scores_to_table(output, output_db, db)  # the engine checks its own arguments
    session, spark_module = _spark()
    uri = tracking.model_uri(model, (cfg or Config()).registry.model_name)
    result = spark_module.score_spark(
        session(master), leads, activities, when, output, uri, cfg, force=force, table=table
    )
    console.print(
        f"Wrote {result.scored} scores to {result.output} and {result.rejected} rejected rows "
        f"to {result.rejects_output} (Spark, {result.buckets} buckets)."
    )
    return EXIT_OK


@contextlib.contextmanager
def _progress(quiet: bool, doing: str = "Scoring"):  # type: ignore[no-untyped-def]
    """A progress bar on a terminal; nothing under cron (no TTY) or with --quiet."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"{doing} {what}", total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield update


@app.command()
def features(
    leads: LeadsOpt,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="Feature table: .csv or .parquet; with --engine spark a Parquet folder.",
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Features as of this time (ISO 8601)."),
    ] = None,
    activities: ActivitiesOpt = None,
    training_rows: Annotated[
        bool,
        typer.Option(
            "--training-rows",
            help="Instead of one row per lead as of a date: the training rows exactly as "
            "`train` builds them (every closed lead before its close, with label and weight).",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local, or spark for --training-rows (Parquet, CSV or Spark tables in).",
        ),
    ] = "local",
    spark_master: Annotated[
        str | None,
        typer.Option("--spark-master", help="Spark master for --engine spark, e.g. local[2]."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Use this model's feature spec instead of learning one."),
    ] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write the feature table of every lead that exists at the as-of time (or with
    --training-rows the training rows), for inspection, and the feature registry (name,
    family, label, source, how computed) beside it."""
    _setup_logging(quiet, verbose)
    from leadscore.features.registry import registry_frame
    from leadscore.pipelines.errors import InputError
    from leadscore.pipelines.featuretable import write_feature_table, write_training_rows
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.tables import config_for_model, parse_as_of
    from leadscore.pipelines.io.targets import output_format, write_atomic

    def job() -> None:
        cfg = load_config(config)
        if engine not in ("local", "spark"):
            raise InputError("--engine", f"unknown engine {engine!r}", expected="local or spark")
        if training_rows == (as_of is not None):
            raise InputError(
                "features", "give either --as-of or --training-rows", expected="exactly one"
            )
        if engine == "spark" and not training_rows:
            raise InputError("--engine spark", "builds training rows", expected="--training-rows")
        if engine == "local":
            output_format(output)
        spec = None
        if model is not None:
            tracking.configure_tracking()
            resolved = tracking.load_model(model)
            spec = resolved.model.spec
            # no --config: read the export as the model's training export was read
            given = cfg if config is not None else None
            cfg = config_for_model(given, resolved.model.reading, resolved.label)
        if engine == "spark":
            session, spark = _spark()
            n, learned = spark.write_training_rows_spark(
                session(spark_master), str(leads), str(activities) if activities else None,
                output, cfg, spec,
            )  # fmt: skip
            registry = output.with_name(f"{output.name}.registry.csv")
            write_atomic(registry_frame(learned.spec.definitions()), registry, "csv")
            rows, width = n, len(learned.spec.feature_names)
        elif training_rows:
            info, registry = write_training_rows(leads, activities, output, cfg, spec)
            rows, width = info.rows, info.features
        else:
            info, registry = write_feature_table(
                leads, activities, parse_as_of(str(as_of)), output, cfg, spec
            )
            rows, width = info.rows, info.features
        what = "training rows" if training_rows else "leads"
        console.print(
            f"Wrote {rows} {what} x {width} features to {output} and the registry to {registry}"
        )

    _run(job)


@app.command()
def inspect(
    leads: Annotated[
        str,
        typer.Option("--leads", help="The raw export: CSV or Parquet, or with --db a table."),
    ],
    activities: Annotated[
        str | None,
        typer.Option("--activities", help="Activities export (optional)."),
    ] = None,
    db: DbOpt = None,
    write_config: Annotated[
        Path,
        typer.Option("--write-config", help="Where to write the starter config."),
    ] = Path("leadscore-starter.yaml"),
    config: ConfigOpt = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            help="The outcome column, when inspect found more than one candidate: the leak "
            "checks then run against it and the starter config maps it.",
        ),
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Profile a raw CRM export: the role of every column, the outcome and its spellings,
    likely leaks, personal data, readiness; write a commented starter config."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.inspect import fmt_span, inspect_export, starter_config, summary_rows
    from leadscore.pipelines.io.sources import as_source

    def job() -> None:
        cfg = load_config(config)
        found = inspect_export(
            as_source(leads, db), as_source(activities, db) if activities else None, cfg, outcome
        )
        console.print(
            f"[bold]{found.source}[/]: {found.rows:,} rows, {len(found.columns)} columns, "
            f"{fmt_span(found)}"
        )
        table = Table(title="Columns")
        for name in ("column", "role", "missing", "distinct", "why"):
            table.add_column(name)
        for row in summary_rows(found):
            table.add_row(*row)
        console.print(table)
        if found.outcome_column is not None:
            values = Table(title=f"Outcome: column {found.outcome_column!r}")
            values.add_column("value")
            values.add_column("rows", justify="right")
            values.add_column("read as")
            for value, n in found.outcome_counts.items():
                key = str(value).strip().lower()
                values.add_row(str(value), str(n), found.outcome_mapping.get(key, "open"))
            console.print(values)
        if len(found.outcome_candidates) > 1:
            ranked = Table(title="Outcome candidates (the evidence weighed for each)")
            for name in ("column", "score", "evidence"):
                ranked.add_column(name)
            for c in found.outcome_candidates[:5]:
                ranked.add_row(c.column, f"{c.score:.1f}", "; ".join(c.evidence))
            console.print(ranked)
        for leak in found.leaks:
            console.print(
                f"[bold red]likely leak[/] {leak.column!r}: {leak.reason}", highlight=False
            )
        if found.placeholders:
            shown = ", ".join(f"{k!r} ({v})" for k, v in found.placeholders.items())
            console.print(f"Read as missing (CRM placeholders): {shown}", highlight=False)
        for question in found.questions:
            console.print(
                f"[bold yellow]question[/] {question.column!r}: {question.reason}",
                highlight=False,
            )
        for line in found.readiness:
            console.print(f"[yellow]readiness:[/] {line}", highlight=False)
        write_config.parent.mkdir(parents=True, exist_ok=True)
        write_config.write_text(starter_config(found), encoding="utf-8")
        console.print(f"Starter config: {write_config} (every choice commented)")

    _run(job)


@app.command()
def report(
    output: Annotated[Path, typer.Option("--output", help="Folder for report.html.")],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Registered model URI [default: models:/<name>@champion]."),
    ] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write a self-contained HTML report on a registered model (tiers, quality, what drives
    the score, what changed against the previous champion); also logged to its MLflow run."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.report import build_report

    def job() -> None:
        cfg = load_config(config)
        uri = tracking.model_uri(model, cfg.registry.model_name)
        result = build_report(uri, output)
        console.print(
            f"Report on {result.model_version}: {result.path} ({result.plots} plots); "
            f"logged to MLflow run {result.run_id}."
        )

    _run(job)


@app.command()
def explain(
    lead_id: Annotated[str, typer.Option("--lead-id", help="The lead to explain.")],
    leads: Annotated[
        str, typer.Option("--leads", help="Leads: file or folder, or with --db a table.")
    ],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Explain the score as of this time (ISO 8601; 'today').")
    ] = "today",
    activities: Annotated[
        str | None,
        typer.Option("--activities", help="Activities: file or folder, or with --db a table."),
    ] = None,
    db: DbOpt = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="MLflow model URI [default: models:/<name>@champion]."),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many factors to show.")] = 12,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print one lead's probability, tier and the factors behind its score."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.explain import explain_lead
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.sources import as_source
    from leadscore.pipelines.io.tables import parse_as_of

    def job() -> None:
        # No --config: the export is read as the model's training export was.
        given = load_config(config) if config is not None else None
        cfg = given or Config()
        when = parse_as_of(as_of)
        uri = tracking.model_uri(model, cfg.registry.model_name)
        found = explain_lead(
            lead_id,
            as_source(leads, db),
            as_source(activities, db) if activities is not None else None,
            when,
            uri,
            given,
        )
        status = "open" if found.is_open else "already closed at that time"
        table = Table(
            title=f"Lead {found.lead_id} as of {when.date()}: {found.probability:.1%}, "
            f"tier {found.tier} ({status}; {found.model_version})"
        )
        table.add_column("", justify="center")
        table.add_column("factor")
        table.add_column("this lead")
        table.add_column("effect (log-odds)", justify="right")
        shown = found.factors[found.factors["contribution"].abs() > 0].head(top)
        for record in shown.to_dict("records"):
            sign = "[green]+[/]" if record["contribution"] > 0 else "[red]-[/]"
            table.add_row(sign, record["factor"], record["value"], f"{record['contribution']:+.3f}")
        console.print(table)
        console.print(
            f"Average lead {found.base_value:+.3f} + all factors "
            f"{found.factors['contribution'].sum():+.3f} = {found.raw_score:+.3f} log-odds, "
            f"calibrated to {found.probability:.1%}."
        )

    _run(job)


@app.command()
def promote(
    version: Annotated[str, typer.Option("--version", help="Model version to make champion.")],
    config: ConfigOpt = None,
) -> None:
    """Point the `champion` alias at a model version; the old champion stays reachable as
    `previous_champion` (see `rollback`)."""
    _setup_logging(False, False)
    from leadscore.pipelines.io import tracking

    def job() -> None:
        cfg = load_config(config)
        tracking.configure_tracking()
        name = cfg.registry.model_name
        tracking.load_model(f"models:/{name}/{version}")
        old = tracking.promote(name, version)
        console.print(f"{name} v{version} is now the champion (was v{old})")

    _run(job)


@app.command()
def rollback(config: ConfigOpt = None) -> None:
    """Make the previous champion the champion again (swap with `previous_champion`)."""
    _setup_logging(False, False)
    from leadscore.pipelines.io import tracking

    def job() -> None:
        cfg = load_config(config)
        tracking.configure_tracking()
        name = cfg.registry.model_name
        restored, demoted = tracking.rollback(name)
        console.print(f"{name} v{restored} is the champion again (v{demoted} is previous_champion)")

    _run(job)


@app.command()
def backtest(
    leads: LeadsOpt,
    activities: ActivitiesOpt = None,
    config: ConfigOpt = None,
    shuffled: Annotated[
        bool,
        typer.Option(
            "--shuffled/--no-shuffled",
            help="Also run a shuffled 5-fold cross-validation, to see what a random split claims.",
        ),
    ] = False,
    outcome: OutcomeOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Rolling-origin backtest: train on the past, judge on the next slice, several folds,
    next to the logistic baseline and a points rule. Logged to MLflow; registers nothing."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.evaluation import backtest_job
    from leadscore.pipelines.io import tracking

    def job() -> None:
        cfg = _config_with(config, outcome)
        tracking.configure_tracking()
        report = backtest_job(leads, activities, cfg, shuffled)
        history = report.history
        per_fold = Table(title=f"Backtest per fold ({history.how}): ROC AUC / PR AUC / ECE")
        per_fold.add_column("fold")
        per_fold.add_column("leads", justify="right")
        models = list(dict.fromkeys(history.per_fold["model"]))
        for model in models:
            per_fold.add_column(model, justify="right")
        for fold, part in history.per_fold.groupby("fold", sort=True):
            cells = part.set_index("model")
            per_fold.add_row(
                str(fold), f"{int(cells['leads'].iloc[0])}",
                *(f"{cells.loc[m, 'roc_auc']:.3f} / {cells.loc[m, 'pr_auc']:.3f} / "
                  f"{cells.loc[m, 'ece']:.3f}" if m in cells.index else "n/a" for m in models),
            )  # fmt: skip
        console.print(per_fold)
        columns = {r["model"]: r for r in history.overall.to_dict("records")}
        if report.shuffled is not None:
            columns |= {
                f"{r['model']} (shuffled CV)": r for r in report.shuffled.to_dict("records")
            }
        console.print(_metric_table("All folds pooled", columns))
        for note in report.notes:
            console.print(f"[yellow]note:[/] {note}")
        console.print(f"MLflow run {report.run_id}")

    _run(job)


@app.command()
def monitor(
    leads: LeadsOpt,
    scores: Annotated[
        list[Path],
        typer.Option(
            "--scores", help="Score outputs kept over time: files or folders (repeatable)."
        ),
    ],
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Compare what the tiers promised with the outcomes that arrived since the leads were
    scored; say when to recalibrate or retrain."""
    _setup_logging(quiet, verbose)
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.monitor import monitor as run_monitor

    def job() -> None:
        cfg = load_config(config)
        tracking.configure_tracking()
        report = run_monitor(leads, scores, cfg)
        console.print(
            f"{report.scored_rows} scored rows; {report.with_outcome} with an outcome since; "
            f"{report.still_open} still open"
        )
        if not report.tiers.empty:
            table = Table(title="Tier promises")
            for column in ("model", "tier", "leads", "promised", "realised (95% CI)"):
                table.add_column(column, justify="left" if column in ("model", "tier") else "right")
            for r in report.tiers.to_dict("records"):
                table.add_row(
                    str(r["model_version"]), str(r["tier"]), str(r["scored_with_outcome"]),
                    f"{r['promised_win_rate']:.1%}",
                    f"{r['realised_win_rate']:.1%} "
                    f"({r['realised_low']:.0%}-{r['realised_high']:.0%})",
                )  # fmt: skip
            console.print(table)
        if not report.cohorts.empty:
            table = Table(title="Calibration per cohort (month scored)")
            for column in ("cohort", "leads", "mean predicted", "realised", "ECE", "ROC AUC"):
                table.add_column(column, justify="left" if column == "cohort" else "right")
            for r in report.cohorts.to_dict("records"):
                table.add_row(
                    str(r["cohort"]), str(r["scored_with_outcome"]), f"{r['mean_probability']:.1%}",
                    f"{r['realised_win_rate']:.1%}", f"{r['ece']:.3f}", f"{r['roc_auc']:.3f}",
                )  # fmt: skip
            console.print(table)
        for line in report.advice:
            console.print(f"[bold]advice:[/] {line}")

    _run(job)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
