"""Command line: each subcommand parses arguments and calls one public function.

Expected user errors (UserError) print one message and exit 2, with no traceback; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from ablate.answer import Answer
    from ablate.api import SweepOutcome
    from ablate.config.schema import Config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Off a terminal rich assumes 80 columns, which folds the plan table; logs can be wider.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # a message stays one line in logs

Overrides = Annotated[
    list[str] | None, typer.Argument(help="key=value settings, e.g. training.epochs=3")
]
JudgeOverrides = Annotated[
    list[str] | None,
    typer.Argument(help="judge.key=value settings only, e.g. judge.mode=absolute judge.name=abs"),
]
ResultsDir = Annotated[Path, typer.Option("--results-dir", help="where results/<sweep> goes")]
Address = Annotated[
    str | None,
    typer.Option(
        "--address", help="an existing Ray cluster (default: $RAY_ADDRESS, else Ray starts here)"
    ),
]


def _note(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"ablate {version('ablate')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Alignment-data ablations (LIMA-style) on Ray, tracked in MLflow."""


@app.command()
def validate(
    sweep: Path, overrides: Overrides = None, results_dir: ResultsDir = Path("results")
) -> None:
    """Check a sweep file and its experiment with every check `run` makes before a trial;
    exit 0 when valid, 2 with the problems. Data still to be downloaded is a warning."""
    from ablate.api import load_and_plan
    from ablate.data.checks import data_warnings

    config, trials = load_and_plan(sweep, overrides or [], results_dir)
    if config.search is not None:
        what = f"a search of {config.search.trials} configurations"
    else:
        what = f"{len(trials)} trials"
    out.print(f"{sweep}: valid. Sweep '{config.name}', {what}.")
    for warning in data_warnings(config):
        err.print(f"warning: {warning}", markup=False, highlight=False)


def _count(value: int | None, prefix: str = "") -> str:
    return "n/a" if value is None else f"{prefix}{value:,}"


def _total(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if len(known) == len(values) else None


@app.command()
def plan(
    sweep: Path, overrides: Overrides = None, results_dir: ResultsDir = Path("results")
) -> None:
    """Print the sweep's trials with estimated training tokens, generation tokens (at most) and
    judge calls; writes nothing."""
    from ablate.api import load_and_plan
    from ablate.data.checks import data_warnings
    from ablate.estimate import estimate_trials

    config, trials = load_and_plan(sweep, overrides or [], results_dir)
    if config.search is not None:
        _print_search_plan(config, results_dir)
        return
    estimates = estimate_trials(config, trials, results_dir)
    from ablate.results import overrides_text

    table = Table(
        "trial id",
        "arm",
        "data",
        "overrides",
        "n_examples",
        "seed",
        "folder",
        "train tokens",
        "generation tokens",
        "judge calls",
        title=f"sweep '{config.name}': {len(trials)} trials",
    )
    for t in trials:
        e = estimates[t.folder]
        table.add_row(
            t.trial_id,
            t.arm,
            escape(t.pool),
            escape(overrides_text(t.overrides)) or "-",
            str(t.n_examples),
            str(t.seed),
            t.folder,
            _count(e.train_tokens, "~"),
            _count(e.generation_tokens, "<="),
            _count(e.judge_calls),
        )
    out.print(table)
    tokens = _total([e.train_tokens for e in estimates.values()])
    generated = _total([e.generation_tokens for e in estimates.values()])
    calls = _total([e.judge_calls for e in estimates.values()])
    out.print(
        f"total: train tokens {_count(tokens, '~')} (about 4 characters per token), "
        f"generation tokens {_generation(generated)}, judge calls {_count(calls)}"
    )
    for warning in data_warnings(config):
        err.print(f"warning: {warning}", markup=False, highlight=False)


def _generation(tokens: int | None) -> str:
    if tokens is None:
        return (
            "n/a (the evaluation prompts are not there yet, or a hub task has no size: "
            "set evaluation.tasks.<name>.size)"
        )
    return f"{_count(tokens, '<=')} (every response to its token limit)"


def _print_search_plan(config: Config, results_dir: Path) -> None:
    """A search's space, budget and cost (its trials are proposed while it runs)."""
    from ablate.data.checks import data_warnings
    from ablate.estimate import estimate_search
    from ablate.search.space import dimensions, direction

    search = config.search
    assert search is not None
    table = Table("searched", "values", title=f"sweep '{config.name}': a search ({search.sampler})")
    for dim in dimensions(config):
        table.add_row(dim.name, dim.describe())
    out.print(table)
    e = estimate_search(config, results_dir)
    seeds = len(config.sweep.seeds)
    out.print(
        f"objective: {search.objective} ({direction(config)}); budget: {search.trials} "
        f"configurations x {seeds} seed{'s' if seeds > 1 else ''}"
        + (f" + confirmation {e.confirm_trials}" if e.confirm_trials else "")
        + f" = {e.trials} trials, {search.max_concurrent or 'as many as fit'} at a time"
    )
    tokens = (
        "n/a (prepare the pools first: ablate data prepare)"
        if e.tokens_low is None or e.tokens_high is None
        else f"~{e.total(e.tokens_low):,} to ~{e.total(e.tokens_high):,} "
        f"(~{e.tokens_low:,} to ~{e.tokens_high:,} a trial, about 4 characters per token)"
    )
    out.print(
        f"total: train tokens {tokens}, generation tokens "
        f"{_generation(e.total(e.generation_tokens))}, judge calls {_count(e.total(e.judge_calls))}"
    )
    for warning in data_warnings(config):
        err.print(f"warning: {warning}", markup=False, highlight=False)


def _results_table(outcome: SweepOutcome) -> Table:
    """One row per trial (per arm and size when there are many): the numbers a user looks for
    first; summary.csv has every column."""
    table = Table("trial", "judge mean [95% CI]", "held-out loss", "status", box=None)
    for state in outcome.states:
        m = state.metrics or {}
        score = "n/a"
        if m.get("judge_mean") is not None:
            low, high = m.get("judge_ci_low"), m.get("judge_ci_high")
            interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
            score = f"{m['judge_mean']:.2f}{interval}"
        loss = f"{m['heldout_loss']:.3f}" if m.get("heldout_loss") is not None else "n/a"
        table.add_row(state.trial.folder, score, loss, state.label)
    return table


MAX_TABLE_ROWS = 30


def _verdicts(answer: Answer) -> None:
    """The sweep's answer in a few lines; report.md has every number and the rules."""
    from ablate.report import verdict_lines

    if answer.search is not None:
        _search_verdicts(answer)
        return
    lines = verdict_lines(answer.analysis)
    if not lines:
        return
    table = Table("", "verdict", escape("estimate [interval]"), box=None, title="the answer so far")
    for what, verdict, numbers in lines:
        table.add_row(what, verdict, numbers)
    out.print(table)
    out.print(f"Report:  {answer.files.markdown}")


def _search_verdicts(answer: Answer) -> None:
    from ablate.search_report import terminal_rows

    assert answer.search is not None
    rows = terminal_rows(answer.search)
    if rows:
        title = f"the best configurations so far ({answer.search.objective}, " \
                f"{answer.search.direction})"  # fmt: skip
        table = Table("", escape("estimate [interval]"), "settings", box=None, title=title)
        for row in rows:
            table.add_row(*(escape(x) for x in row))
        out.print(table)
    out.print(f"Report:  {answer.files.markdown}")


def _report(outcome: SweepOutcome) -> None:
    if outcome.states and len(outcome.states) <= MAX_TABLE_ROWS:
        out.print(_results_table(outcome))
    if outcome.answer is not None:
        _verdicts(outcome.answer)
    out.print(f"\n{outcome.trials} trials ({outcome.ran} run now, {len(outcome.failed)} failed).")
    out.print(f"Results: {outcome.sweep_dir}")
    out.print(f"Summary: {outcome.summary}")
    if outcome.tracking_uri:
        out.print(
            f"MLflow:  {outcome.tracking_uri} ({outcome.runs_created} new trial runs); "
            f"open with: ablate ui {outcome.sweep_dir.parent}"
        )
    if outcome.failed:
        err.print(
            f"Failed trials: {', '.join(outcome.failed)}. See `ablate status "
            f"{outcome.sweep_dir}`, fix the cause, then `ablate resume {outcome.sweep_dir}`."
        )
        raise typer.Exit(1)


@app.command()
def run(
    sweep: Path,
    overrides: Overrides = None,
    results_dir: ResultsDir = Path("results"),
    address: Address = None,
) -> None:
    """Run every trial of a sweep that is not done yet; track it in MLflow."""
    from ablate.api import run_sweep

    _report(run_sweep(sweep, overrides or [], results_dir, address, _note))


@app.command()
def resume(sweep_dir: Path, overrides: Overrides = None, address: Address = None) -> None:
    """Finish a sweep from its results folder (results/<sweep name>), redoing nothing done."""
    from ablate.api import resume_sweep

    _report(resume_sweep(sweep_dir, overrides or [], address, _note))


@app.command()
def judge(sweep_dir: Path, overrides: JudgeOverrides = None, address: Address = None) -> None:
    """Judge a finished sweep's generations again with other judge.* settings (no retraining);
    results sit beside the others under the judge's name."""
    from ablate.api import rejudge_sweep

    _report(rejudge_sweep(sweep_dir, overrides or [], address, _note))


@app.command()
def report(sweep_dir: Path) -> None:
    """Write the sweep's answer to DIR/<sweep>/report/ (report.md, CSVs, plots) from the trials
    done so far; a partly finished sweep names its missing cells."""
    from ablate.api import report_sweep

    _verdicts(report_sweep(sweep_dir, _note))


@app.command()
def status(sweep_dir: Path) -> None:
    """Show each trial's state from the results folder (results/<sweep name>): done, running,
    failed at a stage and why, interrupted (killed without a word), or the next stage."""
    from ablate.api import sweep_status

    states, notes = sweep_status(sweep_dir)
    for note in notes:
        _note(f"note: {note}; `ablate resume` redoes what it affects")
    from ablate.results import overrides_text

    # An arm's data and settings, when some arm varies them (a mixture, overrides, a grid).
    varied = any(s.trial.data or s.trial.overrides for s in states)
    columns = ["folder", "trial id", *(["data", "overrides"] if varied else []), "status"]
    table = Table(*columns, title=str(sweep_dir))
    for state in states:
        t = state.trial
        extra = [escape(t.pool), escape(overrides_text(t.overrides)) or "-"] if varied else []
        table.add_row(t.folder, t.trial_id, *extra, escape(state.label))
    out.print(table)
    done = sum(state.done for state in states)
    out.print(f"{done}/{len(states)} trials done")


@app.command()
def ui(
    results_dir: Annotated[Path, typer.Argument()] = Path("results"),
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")] = (
        "127.0.0.1"
    ),
    port: int = 5000,
) -> None:
    """Serve the MLflow UI on the results folder's store until Ctrl-C (the curves are on the
    sweep's runs)."""
    from ablate.ui import serve_ui, tracking_server_url

    remote = tracking_server_url()
    if remote:
        out.print(f"MLFLOW_TRACKING_URI points at a server: open {remote} in a browser.")
        return
    def ready(url: str) -> None:
        from ablate.tracking import experiment_urls, tracking_uri

        out.print(f"MLflow UI: {url} (Ctrl-C to stop). Each sweep's runs, and its arms' curves:")
        for name, runs, curves in experiment_urls(tracking_uri(None, results_dir), url):
            out.print(f"  {name}: {runs}\n  {' ' * len(name)}  {curves}", highlight=False)

    code = serve_ui(results_dir, host, port, ready=ready)
    raise typer.Exit(code)


data_app = typer.Typer(no_args_is_help=True, help="Build and inspect training-data pools.")
app.add_typer(data_app, name="data")


@data_app.command("prepare")
def data_prepare(
    config: Path, overrides: Overrides = None, results_dir: ResultsDir = Path("results")
) -> None:
    """Build every pool an experiment or sweep file defines (cached: built once)."""
    from ablate.api import prepare_pools_of

    table = Table("pool", "source", "records", "folder (ablate data inspect FOLDER)")
    warnings = []
    for pool in prepare_pools_of(config, overrides or [], results_dir):
        table.add_row(pool.name, pool.source, str(pool.records), str(pool.folder))
        warnings += [f"warning: pools.{pool.name}: {w}" for w in pool.warnings]
    out.print(table)
    for warning in warnings:
        _note(warning)


@data_app.command("synth-dumps")
def data_synth_dumps(
    directory: Path,
    sites: Annotated[int, typer.Option(min=1)] = 8,
    questions_per_site: Annotated[int, typer.Option(min=1)] = 150,
    wikihow_articles: Annotated[int, typer.Option(min=1)] = 400,
    seed: int = 0,
) -> None:
    """Write synthetic stand-ins for the LIMA data: DIRECTORY/stackexchange/ (per-site
    Posts.xml, some as .7z) and DIRECTORY/wikihow.csv, with posts that fail each filter rule."""
    from ablate.data.fixtures.dumps import write_stackexchange_dump, write_wikihow_csv

    counts = write_stackexchange_dump(
        directory / "stackexchange", sites, questions_per_site, seed, archive_sites=min(2, sites)
    )
    articles = write_wikihow_csv(directory / "wikihow.csv", wikihow_articles, seed)
    out.print(
        f"wrote {counts['posts']:,} posts in {sites} sites to {directory / 'stackexchange'} "
        f"and {articles:,} articles to {directory / 'wikihow.csv'}"
    )


@data_app.command("inspect")
def data_inspect(pool: Path) -> None:
    """Print a prepared pool's manifest: rules, groups, lengths, duplicates, diversity."""
    from ablate.api import inspect_pool

    out.print(inspect_pool(pool), markup=False, highlight=False)


@app.command("build-tiny-model")
def build_tiny_model(directory: Path) -> None:
    """Save the project's tiny model and tokenizer to DIRECTORY (loadable by path)."""
    from ablate.models.tiny import save_tiny

    out.print(f"saved to {save_tiny(directory)}")


def main() -> None:
    from ablate.errors import UserError

    try:
        app()
    except UserError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)
