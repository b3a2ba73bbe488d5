"""A whole sweep's answer from its done trials (pure): curve points, comparisons, fits and
verdicts, the unscored checks, and what is missing or not measured.

Everything here goes through the contrasts of ablate.analysis.contrasts, so every interval
resamples prompts and, with several seeds per cell, includes training-seed variance. Held-out
loss uses the same machinery on per-prompt values linearised from the trial's loss per token
(a ratio of sums; see _linearized_loss), whose mean is exactly that loss, so its intervals are
seed- and prompt-aware too. Each comparison also comes adjusted for response length (the judge's
points per token, estimated within trial and prompt; ablate.analysis.length), with the flag
"mostly length" by a rule declared before the data (verdicts.length_flag); a pairwise sweep's
also as AlpacaEval's length-controlled win rate (ablate.analysis.lc_winrate), flagged by the
same rule. The report, the terminal and MLflow all show this one analysis.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ablate.analysis.branching import (
    BranchingCell,
    BranchingPoint,
    Entropies,
    Factor,
    branching_points,
)
from ablate.analysis.contrasts import (
    Cell,
    Contrast,
    SweepMeans,
    arm_difference,
    cell_group_mean,
    clipped,
    scaling_slope,
    sweep_means,
)
from ablate.analysis.fits import PowerLaw, power_law_fit
from ablate.analysis.lc_winrate import (
    LengthControlled,
    LengthPreference,
    TrialInput,
    TrialWinRate,
    WinRates,
    lc_means,
    lc_win_rates,
)
from ablate.analysis.length import (
    LengthAdjusted,
    LengthSlope,
    _with_slope,
    adjusted_means,
    length_adjusted_difference,
    length_slope,
    sample_arrays,
)
from ablate.analysis.tasks import (
    TaskCell,
    TaskPoint,
    TaskScores,
    error_fit_gap,
    error_power_law,
    error_verdict,
    task_names,
    task_points,
)
from ablate.analysis.verdicts import Verdict, comparison_verdict, length_flag, slope_verdict
from ablate.stats import holm

HeldoutByPrompt = Mapping[str, tuple[float, int]]  # prompt id -> (loss sum, tokens)
# The base model's base.json metrics and its per-prompt entropies (results.base_measurement)
BaseMeasurement = tuple[Mapping[str, Any], Entropies | None]
Lengths = Mapping[str, Sequence[float | None]]  # prompt id -> each sample's response tokens


@dataclass(frozen=True)
class TrialData:
    """What the analysis needs of one done trial (results.py reads it from the ledger)."""

    arm: str
    n_examples: int
    seed: int
    scores: Mapping[str, Sequence[float | None]]  # judge scores by prompt, None = unscored
    heldout_loss: float | None = None
    heldout_by_prompt: HeldoutByPrompt | None = None  # None: made before these were kept
    metrics: Mapping[str, Any] = field(default_factory=dict)
    # Response tokens of each sample, aligned with ``scores`` (None: unknown); the length
    # adjustment (ablate.analysis.length) needs them for every trial.
    lengths: Lengths | None = None
    tasks: TaskScores | None = None  # objective tasks' correctness by prompt (evaluation.tasks)
    entropies: Entropies | None = None  # mean next-token entropy by prompt (branching factor)
    # pairwise: each prompt's reference tokens (the LC win rate's); None: not recorded
    reference_lengths: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Design:
    """What the sweep planned, and the rules declared before the data."""

    arms: Sequence[str]
    sizes: Sequence[int]
    seeds: Sequence[int]
    confidence: float = 0.95
    equivalence_margin: float = 0.1  # judge points per doubling inside which a slope is flat
    baseline_arm: str | None = None  # compare each arm with it; None: every pair
    # Arms compared with each other (one grid point each); None: all arms are one family. With
    # families, baseline_arm names the arm in each family whose name starts with it.
    families: Sequence[Sequence[str]] | None = None
    pairwise: bool = False  # scores are win / tie / lose against a reference: LC win rates


@dataclass(frozen=True)
class Point:
    """One (arm, size) of the curve, over its done seeds."""

    arm: str
    n_examples: int
    seeds: tuple[int, ...]
    judge: Contrast | None  # None: fewer than 2 prompts scored
    heldout: Contrast | None  # None: no per-prompt losses
    heldout_mean: float | None  # mean over seeds of the trials' held-out loss
    unscored_rate: float | None  # over all responses of its seeds
    length: Contrast | None = None  # mean response tokens of the scored responses
    lc_win_rate: Contrast | None = None  # pairwise: AlpacaEval's length-controlled win rate


@dataclass(frozen=True)
class Comparison:
    arm: str
    baseline: str
    n_examples: int | None  # None: the mean difference over the sizes both arms have
    verdict: Verdict
    length_adjusted: LengthAdjusted | None = None  # None: lengths unknown or slope unidentified
    length_controlled: LengthControlled | None = None  # pairwise: LC win rate difference

    @property
    def contrast(self) -> Contrast:
        return self.verdict.contrast


@dataclass(frozen=True)
class Fit:
    """A curve's fit and its verdict. judge_mean: the slope in points per doubling of n;
    heldout_loss: the power-law exponent alpha of loss = A * n^-alpha (> 0: falls with n)."""

    arm: str
    metric: str
    slope: float
    low: float
    high: float
    verdict: str  # one word or short phrase
    text: str  # the verdict with its numbers and rule
    method: str


@dataclass(frozen=True)
class SweepAnalysis:
    design: Design
    points: list[Point]
    comparisons: list[Comparison]
    fits: list[Fit]
    missing: list[tuple[str, int, int]]  # (arm, n_examples, seed) planned and not done
    notes: list[str]  # what was not measured, and the flags raised
    length_slope: LengthSlope | None = None  # judge points per response token
    length_note: str = ""  # why there is no length adjustment ("" when there is one)
    task_points: list[TaskPoint] = field(default_factory=list)  # each task's (arm, size)
    branching: list[BranchingPoint] = field(default_factory=list)  # each (arm, size)'s
    base_branching: Factor | None = None  # the base model's (evaluation.measure_base)
    lc_trials: list[TrialWinRate] = field(default_factory=list)  # pairwise: each trial's
    lc_preference: LengthPreference | None = None  # pairwise: the judge's, in the LC GLM
    lc_note: str = ""  # pairwise: why some or all trials have no LC win rate ("" when all do)

    def point(self, arm: str, n_examples: int) -> Point | None:
        return next((p for p in self.points if (p.arm, p.n_examples) == (arm, n_examples)), None)


def _judge_cells(trials: Sequence[TrialData]) -> list[Cell]:
    return [Cell(t.arm, t.n_examples, t.seed, t.scores) for t in trials]


def _linearized_loss(by_prompt: HeldoutByPrompt) -> dict[str, list[float | None]]:
    """Per-prompt values whose plain mean is the trial's loss per token R = sum s / sum t, and
    whose spread is the ratio estimator's (delta method): x_p = R + (s_p - R t_p) / t_bar.

    Prompts with longer references carry larger loss sums; the ratio does not vary with that,
    and neither does x_p, so the interval stays as narrow as a prompt bootstrap of the ratio."""
    total = sum(t for _, t in by_prompt.values())
    if total == 0:
        return {}
    ratio = sum(s for s, _ in by_prompt.values()) / total
    mean_tokens = total / len(by_prompt)
    return {p: [ratio + (s - ratio * t) / mean_tokens] for p, (s, t) in by_prompt.items()}


def _heldout_cells(trials: Sequence[TrialData]) -> list[Cell] | None:
    """The held-out loss as cells of per-prompt values (see _linearized_loss); None unless
    every trial kept its per-prompt losses."""
    if not trials or not all(t.heldout_by_prompt for t in trials):
        return None
    return [
        Cell(t.arm, t.n_examples, t.seed, _linearized_loss(t.heldout_by_prompt or {}))
        for t in trials
    ]


def _unscored_cells(trials: Sequence[TrialData]) -> list[Cell]:
    """1 per unscored response, 0 per scored: its contrasts compare unscored rates."""
    return [
        Cell(
            t.arm,
            t.n_examples,
            t.seed,
            {p: [float(s is None) for s in v] for p, v in t.scores.items()},
        )
        for t in trials
    ]


def _group_mean(sweep: SweepMeans, arm: str, n: int, confidence: float) -> Contrast | None:
    try:
        return cell_group_mean(sweep, arm, n, confidence)
    except ValueError:  # fewer than 2 prompts scored in every seed of the group
        return None


def _bounded_mean(
    sweep: SweepMeans, arm: str, n: int, confidence: float, low: float, high: float = math.inf
) -> Contrast | None:
    """A group mean whose values lie in [low, high] (a win rate, a count of tokens): its t
    interval cut there (contrasts.clipped); a few short, spread-out responses and few seeds
    reached below 0 tokens, a trial that wins nearly everything above a win rate of 1."""
    c = _group_mean(sweep, arm, n, confidence)
    return None if c is None else clipped(c, low, high)


def _unscored_rate(trials: Sequence[TrialData]) -> float | None:
    values = [s for t in trials for v in t.scores.values() for s in v]
    return sum(s is None for s in values) / len(values) if values else None


def _points(
    trials: Sequence[TrialData],
    judge: SweepMeans,
    heldout: SweepMeans | None,
    d: Design,
    lengths: SweepMeans | None = None,
    lc: SweepMeans | None = None,
) -> list[Point]:
    points = []
    for arm in d.arms:
        for n in d.sizes:
            group = [t for t in trials if (t.arm, t.n_examples) == (arm, n)]
            if not group:
                continue
            losses = [t.heldout_loss for t in group if t.heldout_loss is not None]
            # Pairwise scores are win rates (1 / 0.5 / 0): their intervals stay in [0, 1].
            judged = (_bounded_mean(judge, arm, n, d.confidence, 0.0, 1.0) if d.pairwise
                      else _group_mean(judge, arm, n, d.confidence))  # fmt: skip
            points.append(
                Point(
                    arm,
                    n,
                    tuple(sorted(t.seed for t in group)),
                    judged,
                    # A cross-entropy is >= 0; 16 prompts of spread-out losses reached below.
                    _bounded_mean(heldout, arm, n, d.confidence, 0.0) if heldout else None,
                    sum(losses) / len(losses) if losses else None,
                    _unscored_rate(group),
                    _bounded_mean(lengths, arm, n, d.confidence, 0.0) if lengths else None,
                    _bounded_mean(lc, arm, n, d.confidence, 0.0, 1.0) if lc else None,
                )
            )
    return points


def _pairs(arms: Sequence[str], baseline: str | None) -> list[tuple[str, str]]:
    if baseline is not None:
        return [(a, baseline) for a in arms if a != baseline]
    return [(a, b) for i, a in enumerate(arms) for b in arms[i + 1 :]]


def _comparisons_at(
    sweep: SweepMeans,
    pairs: list[tuple[str, str]],
    n: int | None,
    d: Design,
    length: _Length | None = None,
    lc: SweepMeans | None = None,
) -> list[Comparison]:
    """The comparisons at one size (or pooled), Holm-adjusted together when there are more
    than two arms (the family: every arm pair at that size); their length-adjusted and
    length-controlled versions the same way, each a family of its own."""
    made = []
    for a, b in pairs:
        try:
            c = arm_difference(sweep, a, b, n, d.confidence)
        except ValueError:  # a missing arm at this size, or too few shared prompts
            continue
        # A difference of two win rates lies in [-1, 1] (its p and verdict are the t's).
        made.append((a, b, clipped(c, -1.0, 1.0) if d.pairwise else c))
    many = len(d.arms) > 2
    adjusted = holm([c.p_value for _, _, c in made]) if many else None
    lengths = _length_adjusted(length, made, n, many)
    controlled = _length_controlled(lc, made, n, many)
    rows = []
    for i, (a, b, c) in enumerate(made):
        verdict = comparison_verdict(c, a, b, adjusted[i] if adjusted else None, len(made))
        rows.append(Comparison(a, b, n, verdict, _flagged(lengths[i], verdict, a, b),
                               _flagged(controlled[i], verdict, a, b)))  # fmt: skip
    return rows


Adjusted = TypeVar("Adjusted", LengthAdjusted, LengthControlled)


def _flagged(found: Adjusted | None, verdict: Verdict, a: str, b: str) -> Adjusted | None:
    """The comparison's length flag (verdicts.length_flag) on its adjusted version."""
    if found is None:
        return None
    p = found.p_adjusted if found.p_adjusted is not None else found.contrast.p_value
    return dataclasses.replace(found, flag=length_flag(verdict, found.contrast, p, a, b))


def _holm(found: list[Adjusted | None], many: bool) -> list[Adjusted | None]:
    """Holm-adjusted p over the adjusted comparisons made, when ``many``."""
    if not many:
        return found
    p = iter(holm([x.contrast.p_value for x in found if x is not None]))
    return [None if x is None else dataclasses.replace(x, p_adjusted=next(p)) for x in found]


def _length_controlled(
    lc: SweepMeans | None, made: list[tuple[str, str, Contrast]], n: int | None, many: bool
) -> list[LengthControlled | None]:
    """Each comparison in LC win rate (None where it cannot be made)."""
    found: list[LengthControlled | None] = []
    for a, b, c in made:
        try:
            k = arm_difference(lc, a, b, n, c.confidence) if lc is not None else None
        except ValueError:  # an arm without LC win rates at this size, or too few prompts
            k = None
        k = None if k is None else clipped(k, -1.0, 1.0)  # two win rates' difference
        share = (c.estimate - k.estimate) / c.estimate if k is not None and c.estimate else None
        found.append(None if k is None else LengthControlled(k, share))
    return _holm(found, many)


def _length_adjusted(
    length: _Length | None, made: list[tuple[str, str, Contrast]], n: int | None, many: bool
) -> list[LengthAdjusted | None]:
    """Each comparison adjusted for length (None where it cannot be), with Holm-adjusted p
    over those made when ``many``."""
    if length is None or length.slope is None or length.adjusted is None:
        return [None] * len(made)
    found: list[LengthAdjusted | None] = []
    for a, b, c in made:
        try:
            found.append(length_adjusted_difference(
                c, length.adjusted, length.lengths, length.slope, a, b, n))  # fmt: skip
        except ValueError:  # fewer than 2 prompts with lengths in every involved cell
            found.append(None)
    return _holm(found, many)


@dataclass(frozen=True)
class _Length:
    """The sweep's response lengths and, when the slope is identified, the adjusted scores."""

    lengths: SweepMeans  # mean tokens of the scored responses, per cell and prompt
    slope: LengthSlope | None
    adjusted: SweepMeans | None  # per cell and prompt, mean of score - slope * length
    why: str  # why there is no slope ("" when there is)


def _length(trials: Sequence[TrialData], confidence: float) -> _Length | str:
    """The length adjustment's inputs, or why it cannot be made (every trial needs lengths)."""
    lacking = sum(t.lengths is None for t in trials)
    if lacking:
        return (
            f"{lacking} done trial(s) have no response lengths (their generate/samples.jsonl "
            "is missing or unreadable)"
        )
    data = sample_arrays(_judge_cells(trials), [t.lengths or {} for t in trials])
    try:
        slope = length_slope(data, confidence)
    except ValueError as e:
        return _Length(data.means(data.lengths), None, None, str(e))
    adjusted, lengths = adjusted_means(data, slope.slope)
    return _Length(lengths, slope, adjusted, "")


def _controlled(trials: Sequence[TrialData], d: Design) -> WinRates:
    """A pairwise sweep's LC win rate per trial (ablate.analysis.lc_winrate), and why some
    trials have none. Trials without a scored response (the reference arm's own) are left
    out: nothing of theirs was compared."""
    if not d.pairwise:
        return WinRates([], None, [])
    scored = [t for t in trials if any(v is not None for s in t.scores.values() for v in s)]
    ready = [t for t in scored if t.lengths is not None and t.reference_lengths is not None]
    found = lc_win_rates([TrialInput((t.arm, t.n_examples, t.seed), t.scores,
                                     t.lengths or {}, t.reference_lengths or {})
                          for t in ready], d.confidence)  # fmt: skip
    if len(ready) < len(scored):
        found.notes.insert(0, f"{len(scored) - len(ready)} done trial(s) have no reference or "
                              "response lengths (scored against a reference file before the "
                              "score stage recorded its tokens, or generated before samples "
                              "kept theirs)")  # fmt: skip
    return found


def _family_baseline(family: Sequence[str], baseline: str | None) -> str | None:
    if baseline is None:
        return None
    return next((a for a in family if a == baseline or a.startswith(f"{baseline}-")), None)


def _comparisons(
    sweep: SweepMeans, d: Design, length: _Length | None = None, lc: SweepMeans | None = None
) -> list[Comparison]:
    """Per family (a grid point): each size, then pooled over sizes; Holm within a family."""
    rows = []
    for family in d.families or [d.arms]:
        pairs = _pairs(family, _family_baseline(family, d.baseline_arm))
        fd = dataclasses.replace(d, arms=list(family), families=None)
        sizes: list[int | None] = [*d.sizes, None] if len(d.sizes) > 1 else [*d.sizes]
        rows += [c for n in sizes for c in _comparisons_at(sweep, pairs, n, fd, length, lc)]
    return rows


def _judge_fit(sweep: SweepMeans, arm: str, d: Design) -> Fit | None:
    try:
        contrast = scaling_slope(sweep, arm, d.confidence)
    except ValueError:
        return None
    verdict = slope_verdict(contrast, d.equivalence_margin)
    c = verdict.contrast
    return Fit(arm, "judge_mean", c.estimate, c.low, c.high, verdict.kind, verdict.text, c.method)


def _length_adjusted_fit(found: _Length | None, arm: str, d: Design) -> Fit | None:
    """The judge slope per doubling with each response's length effect taken out (score -
    slope x tokens), its interval widened by the length slope's own uncertainty: does the
    score rise with n only because responses got longer? Same verdict rules as the raw one."""
    if found is None or found.slope is None or found.adjusted is None:
        return None
    try:
        adjusted = scaling_slope(found.adjusted, arm, d.confidence)
        tokens = scaling_slope(found.lengths, arm, d.confidence)
    except ValueError:
        return None
    verdict = slope_verdict(_with_slope(adjusted, tokens.estimate, found.slope),
                            d.equivalence_margin)  # fmt: skip
    c = verdict.contrast
    return Fit(arm, "judge_mean_length_adjusted", c.estimate, c.low, c.high, verdict.kind,
               verdict.text, c.method)  # fmt: skip


def _power_verdict(fit: PowerLaw) -> tuple[str, str]:
    if not math.isfinite(fit.low):
        return "no interval", f"exponent {fit.exponent:.3f}; {fit.method}"
    interval = f"{fit.confidence:.0%} interval {fit.low:.3f} to {fit.high:.3f}"
    numbers = f"exponent {fit.exponent:.3f} ({interval})"
    if fit.low > 0:
        return "falls with n", f"falls with n: loss ~ n^-alpha, {numbers}"
    if fit.high < 0:
        return "rises with n", f"rises with n: {numbers}"
    return "no detectable trend", f"no detectable trend: {numbers}"


def _heldout_fit(trials: Sequence[TrialData], arm: str, confidence: float) -> Fit | None:
    cells = [
        (t.n_examples, t.heldout_loss)
        for t in trials
        if t.arm == arm and t.heldout_loss is not None and t.heldout_loss > 0
    ]
    if len({n for n, _ in cells}) < 2:
        return None
    fit = power_law_fit([n for n, _ in cells], [loss for _, loss in cells], confidence)
    verdict, text = _power_verdict(fit)
    return Fit(arm, "heldout_loss", fit.exponent, fit.low, fit.high, verdict, text, fit.method)


def _task_cells(trials: Sequence[TrialData]) -> dict[str, list[TaskCell]]:
    cells: dict[str, list[TaskCell]] = {}
    for t in trials:
        for task, scores in (t.tasks or {}).items():
            cells.setdefault(task, []).append(TaskCell(t.arm, t.n_examples, t.seed, scores))
    return cells


def _task_fits(cells: dict[str, list[TaskCell]], arm: str, confidence: float) -> list[Fit]:
    fits = []
    for task in task_names(cells):
        fit = error_power_law(cells[task], arm, confidence)
        if fit is not None:
            verdict, text = error_verdict(fit)
            fits.append(Fit(arm, f"task_{task}_accuracy", fit.exponent, fit.low, fit.high,
                            verdict, text, fit.method))  # fmt: skip
    return fits


def _fits(
    trials: Sequence[TrialData], sweep: SweepMeans, d: Design, found: _Length | None = None
) -> list[Fit]:
    fits = []
    tasks = _task_cells(trials)
    for arm in d.arms:
        fits += [
            f
            for f in (
                _judge_fit(sweep, arm, d),
                _length_adjusted_fit(found, arm, d),
                _heldout_fit(trials, arm, d.confidence),
            )
            if f
        ]
        fits += _task_fits(tasks, arm, d.confidence)
    return fits


def _task_fit_notes(trials: Sequence[TrialData], d: Design) -> list[str]:
    cells = _task_cells(trials)
    return [f"task {task}, arm {arm}: no power law of the error: {why}"
            for task in task_names(cells) for arm in d.arms
            if (why := error_fit_gap(cells[task], arm))]  # fmt: skip


def _task_points(trials: Sequence[TrialData], d: Design) -> list[TaskPoint]:
    cells = _task_cells(trials)
    return [p for task in task_names(cells)
            for p in task_points(cells[task], task, d.arms, d.sizes, d.confidence)]  # fmt: skip


def _missing(trials: Sequence[TrialData], d: Design) -> list[tuple[str, int, int]]:
    done = {(t.arm, t.n_examples, t.seed) for t in trials}
    return [(a, n, s) for a in d.arms for n in d.sizes for s in d.seeds if (a, n, s) not in done]


def _unscored_notes(trials: Sequence[TrialData], d: Design) -> list[str]:
    """Trials whose pooled and prompt-mean scores part (not missing at random), and arms whose
    unscored rates differ (then the comparison may compare different prompts' difficulty)."""
    notes = [
        f"{t.arm} n={t.n_examples} seed {t.seed}: {t.metrics.get('judge_unscored_check')}"
        for t in trials
        if t.metrics.get("judge_unscored_flag")
    ]
    sweep = sweep_means(_unscored_cells(trials))
    for c in _comparisons(sweep, Design(d.arms, d.sizes, d.seeds, d.confidence)):
        k = c.contrast
        if c.n_examples is not None and (k.low > 0 or k.high < 0):
            notes.append(
                f"unscored rates differ between {c.arm} and {c.baseline} at n={c.n_examples} "
                f"({k.estimate:+.1%}, interval {k.low:+.1%} to {k.high:+.1%}): responses the "
                "judge could not score may not be missing at random; read that comparison "
                "with care"
            )
    return notes


def _not_measured(trials: Sequence[TrialData], d: Design, heldout: bool) -> list[str]:
    notes = []
    if len(d.seeds) < 2:
        notes.append(
            "training randomness is not measured (1 seed per cell): every interval covers "
            "prompt sampling only; run at least 3 seeds per cell to include it"
        )
    if trials and not heldout:
        notes.append(
            "held-out loss has no interval: some trials were made before per-prompt losses "
            "were kept (regenerate them to get one)"
        )
    return notes


def _branching(
    trials: Sequence[TrialData], d: Design, base: BaseMeasurement | None
) -> tuple[list[BranchingPoint], Factor | None]:
    cells = [BranchingCell(t.arm, t.n_examples, t.seed, t.entropies) for t in trials if t.entropies]
    metrics, entropies = base if base is not None else ({}, None)
    found = metrics.get("branching_factor")
    factor = None
    if isinstance(found, int | float):
        low, high = metrics.get("branching_factor_ci_low"), metrics.get("branching_factor_ci_high")
        if low is not None and high is not None:
            factor = Factor(float(found), float(low), float(high), "bootstrap over prompts")
        else:
            factor = Factor(float(found), method="fewer than 2 prompts")
    return branching_points(cells, d.arms, d.sizes, d.confidence, entropies), factor


def analyze_sweep(
    trials: Sequence[TrialData], design: Design, base: BaseMeasurement | None = None
) -> SweepAnalysis:
    """The sweep's analysis from its done trials (any subset of the plan: a partly finished
    sweep says which cells are missing instead of failing)."""
    trials = [t for t in trials if t.arm in design.arms and t.n_examples in design.sizes]
    missing = _missing(trials, design)
    if not trials:
        return SweepAnalysis(design, [], [], [], missing, ["no trial is done yet"])
    judge = sweep_means(_judge_cells(trials))
    held_cells = _heldout_cells(trials)
    heldout = sweep_means(held_cells) if held_cells else None
    notes = _not_measured(trials, design, heldout is not None) + _unscored_notes(trials, design)
    notes += _task_fit_notes(trials, design)
    length = _length(trials, design.confidence)
    found = length if isinstance(length, _Length) else None
    controlled = _controlled(trials, design)
    lc = lc_means(controlled.trials) if controlled.trials else None
    return SweepAnalysis(
        design,
        _points(trials, judge, heldout, design, found.lengths if found else None, lc),
        _comparisons(judge, design, found, lc),
        _fits(trials, judge, design, found),
        missing,
        notes,
        found.slope if found else None,
        found.why if found else str(length),
        _task_points(trials, design),
        *_branching(trials, design, base),
        controlled.trials,
        controlled.preference,
        "; ".join(controlled.notes),
    )
