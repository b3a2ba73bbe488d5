"""A sweep's answer: its done trials read from the ledger, analysed (ablate.analysis.sweep) and
written as the report (ablate.report). The terminal and MLflow show the same analysis."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate import layout
from ablate.analysis.search import SearchAnswer
from ablate.analysis.sweep import Design, SweepAnalysis, TrialData, analyze_sweep
from ablate.config.arms import variants
from ablate.config.schema import Config, PoolConfig
from ablate.report import ArmInfo, Estimate, ReportContext, ReportFiles, TrialRow, write_report
from ablate.results import (
    TrialState,
    base_measurement,
    heldout_by_prompt,
    judge_scores,
    loss_curve,
    overrides_text,
    prompt_entropies,
    reference_lengths,
    response_lengths,
    task_scores,
)

if TYPE_CHECKING:
    from ablate.search_report import SearchFiles

ACCOUNTING_KEYS = (
    "judge_calls",
    "judge_cache_hits",
    "judge_retries",
    "judge_repairs",
    "judge_failed_calls",
    "judge_calls_maybe_repaid",
    "judge_prompt_tokens",
    "judge_completion_tokens",
    "judge_cost_usd",
    "dialogue_judge_calls",
    "dialogue_judge_cache_hits",
    "dialogue_judge_cost_usd",
)


@dataclass(frozen=True)
class Answer:
    analysis: SweepAnalysis
    files: ReportFiles
    search: SearchAnswer | None = None  # a search's answer (its best configurations etc.)


def design_of(config: Config) -> Design:
    """The analysis' design: every variant (arm x grid point) is an arm of the analysis, and
    arms are compared within one grid point."""
    from ablate.judge.modes import judge_mode

    s, a = config.sweep, config.analysis
    found = variants(config)
    families: dict[str, list[str]] = {}
    for v in found:
        families.setdefault(v.family, []).append(v.name)
    return Design(
        [v.name for v in found],
        list(s.sizes),
        list(s.seeds),
        config.evaluation.confidence,
        a.equivalence_margin,
        a.baseline_arm,
        list(families.values()) if len(families) > 1 else None,
        judge_mode(config.judge.mode).paired,
    )


def trial_data(
    sweep_dir: Path, states: list[TrialState], reference_arm: str | None = None
) -> list[TrialData]:
    """What the analysis needs of each done trial, read once (``reference_arm``:
    judge.reference_arm, whose samples give the reference lengths of trials scored before
    the score stage kept them)."""
    data = []
    for state in states:
        if not state.done:
            continue
        t, metrics = state.trial, state.metrics or {}
        loss = metrics.get("heldout_loss")
        data.append(
            TrialData(
                t.arm,
                t.n_examples,
                t.seed,
                judge_scores(sweep_dir, t),
                float(loss) if isinstance(loss, int | float) else None,
                heldout_by_prompt(sweep_dir, t),
                metrics,
                response_lengths(sweep_dir, t),
                task_scores(sweep_dir, t),
                prompt_entropies(sweep_dir, t),
                reference_lengths(sweep_dir, t, reference_arm),
            )
        )
    return data


def _pool_line(name: str, pool: PoolConfig, results_dir: Path) -> str:
    """The arm's data in one line: source, settings that matter, and the prepared pool's size."""
    from ablate.data.pools import MANIFEST, pool_folder, pool_settings, read_manifest

    settings = pool_settings(pool)
    off = [k for k, on in asdict(pool.filters).items() if on is False]
    facts = [f"source {pool.source}"] + [
        f"{k} {v}" for k, v in settings.items() if k in ("size", "seed", "dataset", "split")
    ]
    if pool.source == "stackexchange":
        facts.append("filters off: " + ", ".join(off) if off else "every LIMA filter on")
    try:
        folder = pool_folder(layout.pools_dir(results_dir).resolve(), pool)
        if (folder / MANIFEST).is_file():
            facts.append(f"{read_manifest(folder)['stats']['records']:,} records in {folder.name}")
    except Exception:  # a pool whose sources moved: the line says what the config says
        facts.append("prepared pool not found")
    return f"pool {name}: " + "; ".join(facts)


def arm_infos(config: Config, results_dir: Path) -> list[ArmInfo]:
    """Each arm (variant) with its data and settings in one line."""
    infos = []
    for v in variants(config):
        parts = [
            (f"{w:.0%} of " if len(v.data) > 1 else "")
            + _pool_line(pool, config.pools[pool], results_dir)
            for pool, w in v.data.items()
            if pool in config.pools
        ]
        if v.overrides:
            parts.append(f"settings: {overrides_text(v.overrides).replace(';', ', ')}")
        infos.append(ArmInfo(v.name, v.pool_label, "; ".join(parts)))
    return infos


def _number(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _estimate(metrics: dict[str, Any], key: str) -> Estimate:
    return (_number(metrics, key), _number(metrics, f"{key}_ci_low"),
            _number(metrics, f"{key}_ci_high"))  # fmt: skip


def trial_rows(states: list[TrialState]) -> list[TrialRow]:
    rows = []
    for s in states:
        m, t = s.metrics or {}, s.trial
        flags = [str(m["judge_unscored_check"])] if m.get("judge_unscored_flag") else []
        tasks = [k.removeprefix("task_").removesuffix("_accuracy")
                 for k in m if k.startswith("task_") and k.endswith("_accuracy")]  # fmt: skip
        rows.append(
            TrialRow(
                t.arm,
                t.n_examples,
                t.seed,
                s.label,
                _number(m, "judge_mean"),
                _number(m, "judge_ci_low"),
                _number(m, "judge_ci_high"),
                _number(m, "heldout_loss"),
                _number(m, "heldout_loss_ci_low"),
                _number(m, "heldout_loss_ci_high"),
                _number(m, "judge_unscored_rate"),
                flags,
                {name: _estimate(m, f"task_{name}_accuracy") for name in sorted(tasks)},
                _estimate(m, "branching_factor") if "branching_factor" in m else None,
            )
        )
    return rows


def accounting_totals(states: list[TrialState]) -> dict[str, float]:
    """Judge accounting summed over done trials; a key no trial reports is left out."""
    totals: dict[str, float] = {}
    for s in states:
        for key in ACCOUNTING_KEYS:
            value = _number(s.metrics or {}, key)
            if value is not None:
                totals[key] = totals.get(key, 0.0) + value
    return totals


def _caveats(config: Config) -> list[str]:
    j = config.judge
    lines = [
        f"absolute scores depend on the judge ({j.model}, {j.mode}); compare arms with each "
        "other, not with scores from another judge or paper"
    ]
    if j.mode == "safety":
        lines.append(
            "judge.mode is safety: the judge score is the share of responses judged safe (1) "
            "rather than unsafe (0); it says nothing of how helpful they are"
        )
    if j.backend == "hf" and j.min_level_mass == 0:
        lines.append(
            "judge.min_level_mass is 0: responses are scored however little probability the "
            "judge puts on the levels (see judge_level_mass in summary.csv)"
        )
    return lines


def write_answer(
    config: Config, sweep_dir: Path, states: list[TrialState], folder_name: str = layout.REPORT
) -> Answer:
    """Analyse the sweep's done trials and write its report folder (works on a partly
    finished sweep: the missing cells are named)."""
    if config.search is not None:
        return _write_search_answer(config, sweep_dir, states, folder_name)
    data = trial_data(sweep_dir, states, config.judge.reference_arm)
    analysis = analyze_sweep(data, design_of(config), base_measurement(sweep_dir))
    context = _context(config, sweep_dir, states, analysis, arm_infos(config, sweep_dir.parent))
    return Answer(analysis, write_report(context, sweep_dir / folder_name))


def _context(
    config: Config,
    sweep_dir: Path,
    states: list[TrialState],
    analysis: SweepAnalysis,
    arms: list[ArmInfo],
    search: SearchFiles | None = None,
) -> ReportContext:
    trials = [s.trial for s in states]
    return ReportContext(
        sweep=config.name,
        judge_name=trials[0].judge_name if trials else "default",
        judge_model=config.judge.model,
        judge_mode=config.judge.mode,
        arms=arms,
        analysis=analysis,
        trials=trial_rows(states),
        accounting=accounting_totals(states),
        loss_curves={(t.arm, t.n_examples, t.seed): loss_curve(sweep_dir, t) for t in trials},
        not_measured=_caveats(config),
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        search_lines=search.lines if search is not None else [],
        dialogues=[(s.trial.arm, s.trial.n_examples, s.trial.seed, dict(s.metrics or {}))
                   for s in states if s.done and "dialogue_excellent_rate" in (s.metrics or {})],
        search_pngs=[search.png] if search is not None and search.png is not None else [],
    )


def _search_answer(config: Config, sweep_dir: Path, states: list[TrialState]) -> SearchAnswer:
    from ablate.analysis.search import analyze_search, search_trial
    from ablate.search.space import dimensions, direction

    assert config.search is not None
    done = [s for s in states if s.done]
    data = trial_data(sweep_dir, states)  # the done trials, in the same order
    # Each configuration's place among all proposals (done or not): the order MLflow and the
    # history plot show, which a configuration finishing late must not shift.
    order: dict[str, int] = {}
    for s in states:
        if s.trial.search and s.trial.search.get("role") == "search":
            order.setdefault(s.trial.arm, len(order) + 1)
    found = [search_trial(d, (s.trial.search or {}) | {"order": order.get(s.trial.arm, 0)})
             if s.trial.search else None for d, s in zip(data, done, strict=True)]  # fmt: skip
    return analyze_search([t for t in found if t is not None], dimensions(config),
                          config.search.objective, direction(config),
                          config.evaluation.confidence)  # fmt: skip


def _write_search_answer(
    config: Config, sweep_dir: Path, states: list[TrialState], folder_name: str
) -> Answer:
    """A search's report: its best configurations, importances, mixture fit and confirmation
    (ablate.search_report), with the judge accounting and every trial."""
    from ablate.search.space import dimensions
    from ablate.search_report import write_search_report

    assert config.search is not None
    search = _search_answer(config, sweep_dir, states)
    folder = sweep_dir / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    drawn = write_search_report(search, dimensions(config), config.search.sampler,
                                config.search.trials, folder)  # fmt: skip
    empty = analyze_sweep([], Design([], list(config.sweep.sizes), list(config.sweep.seeds),
                                     config.evaluation.confidence))  # fmt: skip
    context = _context(config, sweep_dir, states, empty, [], drawn)
    return Answer(empty, write_report(context, folder), search)


def arm_params(config: Config) -> dict[str, dict[str, str]]:
    """Each arm's (variant's) MLflow params: its data, a mixture's weights, the settings that
    make each pool, and the settings the arm overrides (set.<key>)."""
    from ablate.data.pools import pool_settings

    params = {}
    for v in variants(config):
        values = {"arm": v.name, "data": v.pool_label}
        for pool, weight in v.data.items():
            if pool in config.pools:
                settings = pool_settings(config.pools[pool])
                values |= {f"pool.{pool}.{k}": str(x) for k, x in settings.items()}
                values[f"weight.{pool}"] = f"{weight:g}"
        values |= {f"set.{key}": str(value) for key, value in v.overrides.items()}
        params[v.name] = values
    return params
