"""A sweep's analysis as its report: report.md, comparisons.csv, fits.csv, cells.csv and PNGs.

The renderer only formats what ablate.analysis computed (no statistics here), and is
deterministic given its context: the time is passed in, files are written whole and renamed.
Every number a reader sees carries its interval or says why it has none (CONTRIBUTING.md,
principle 13): estimates are shown as "value [low, high]"; counts (seeds, prompts, calls,
tokens) are tallies, not estimates, and say so once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate import objective_plots, plots
from ablate.analysis.branching import Factor
from ablate.analysis.contrasts import Contrast
from ablate.analysis.lc_winrate import LengthControlled, TrialWinRate
from ablate.analysis.length import LengthAdjusted, LengthSlope
from ablate.analysis.sweep import Comparison, Fit, Point, SweepAnalysis
from ablate.analysis.verdicts import MOSTLY_LENGTH
from ablate.files import atomic_write_text

QUESTION = (
    "Does the arm change the judge score, and does the score change with the number of examples?"
)
COMPARISON_COLUMNS = [
    "arm",
    "baseline",
    "n_examples",
    "diff",
    "low",
    "high",
    "n_prompts",
    "n_seeds",
    "method",
    "p_value",
    "p_holm",
    "verdict",
    # Adjusted for response length (ablate.analysis.length; README "Reading the report").
    "diff_length_adjusted",
    "low_length_adjusted",
    "high_length_adjusted",
    "length_share",
    "p_length_adjusted",
    "length_diff_tokens",
    "length_diff_low",
    "length_diff_high",
    "length_flag",
    # Pairwise sweeps: AlpacaEval's length-controlled win rate (ablate.analysis.lc_winrate).
    "diff_length_controlled",
    "low_length_controlled",
    "high_length_controlled",
    "length_controlled_share",
    "p_length_controlled",
    "length_controlled_flag",
]
FIT_COLUMNS = ["arm", "metric", "slope", "low", "high", "verdict", "method", "text"]
CELL_COLUMNS = [
    "arm",
    "n_examples",
    "seeds",
    "judge_mean",
    "judge_low",
    "judge_high",
    "heldout_loss",
    "heldout_low",
    "heldout_high",
    "unscored_rate",
    "lc_win_rate",  # pairwise sweeps: the length-controlled win rate and its interval
    "lc_low",
    "lc_high",
]
PNG_NAMES = ("scaling_curve.png", "objective_curves.png", "differences.png", "training_loss.png")
_ACCOUNTING = {
    "judge_calls": "calls answered over the network",
    "judge_cache_hits": "replies served from the cache (not paid again)",
    "judge_retries": "retries",
    "judge_repairs": "repair requests",
    "judge_failed_calls": "calls failed for good",
    "judge_calls_maybe_repaid": "sendings that may have been paid twice (an upper bound)",
    "judge_prompt_tokens": "prompt tokens paid",
    "judge_completion_tokens": "completion tokens paid",
    "judge_cost_usd": "cost (USD, paid tokens x declared prices)",
    "dialogue_judge_calls": "dialogue turns: calls answered over the network",
    "dialogue_judge_cache_hits": "dialogue turns: replies served from the cache",
    "dialogue_judge_cost_usd": "dialogue turns: cost (USD)",
}


@dataclass(frozen=True)
class ArmInfo:
    name: str
    pool: str
    description: str  # one line about its data (source, records, filters, provenance)


Estimate = tuple[float | None, float | None, float | None]  # value, interval low, high


@dataclass(frozen=True)
class TrialRow:
    """One planned trial, done or not; the per-trial intervals are over its prompts."""

    arm: str
    n_examples: int
    seed: int
    status: str  # "done" or a status label
    judge_mean: float | None
    judge_ci_low: float | None
    judge_ci_high: float | None
    heldout_loss: float | None
    heldout_ci_low: float | None
    heldout_ci_high: float | None
    unscored_rate: float | None
    flags: list[str]
    # task name -> its accuracy with its interval over the trial's prompts (evaluation.tasks)
    tasks: dict[str, Estimate] = field(default_factory=dict)
    branching: Estimate | None = None  # the branching factor with its interval over prompts


@dataclass(frozen=True)
class ReportContext:
    sweep: str
    judge_name: str
    judge_model: str
    judge_mode: str  # likert | pairwise | absolute
    arms: list[ArmInfo]
    analysis: SweepAnalysis
    trials: list[TrialRow]
    accounting: dict[str, float]  # totals over trials; judge_cost_usd absent when unknown
    loss_curves: dict[tuple[str, int, int], list[tuple[int, float]]]  # -> (step, train loss)
    not_measured: list[str]  # extra lines from the caller (protocol deviations etc.)
    generated_at: str  # ISO time from the caller: the renderer reads no clock
    # A search's answer (ablate.search_report) in place of the grid's arms x sizes sections.
    search_lines: list[str] = field(default_factory=list)
    search_pngs: list[Path] = field(default_factory=list)
    # Each done trial's dialogue metrics (evaluation.dialogues): (arm, n, seed, metrics)
    dialogues: list[tuple[str, int, int, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    markdown: Path
    comparisons: Path
    fits: Path
    cells: Path
    pngs: list[Path]


# --- Numbers ---------------------------------------------------------------------------------


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _num(x: float | None, sign: bool = False) -> str:
    if not _finite(x):
        return "n/a"
    assert x is not None
    return f"{x:+.3f}" if sign else f"{x:.3f}"


def _with_interval(
    value: float | None, low: float | None, high: float | None, why: str, sign: bool = False
) -> str:
    """Shown as "value [low, high]", or "value (no interval: why)" without a finite one."""
    if not _finite(value):
        return f"n/a ({why})" if why else "n/a"
    if _finite(low) and _finite(high):
        return f"{_num(value, sign)} [{_num(low, sign)}, {_num(high, sign)}]"
    return f"{_num(value, sign)} (no interval: {why})"


def _contrast(c: Contrast, sign: bool = False) -> str:
    return _with_interval(c.estimate, c.low, c.high, c.method, sign)


def _p(x: float | None) -> str:
    return "" if x is None else f"{x:.3g}"


def _pct(x: float | None) -> str:
    return "n/a" if not _finite(x) else f"{x:.1%}"


def _cell(text: str) -> str:
    """A markdown table cell: pipes would end the cell early."""
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows]


def _csv6(x: float | int | None) -> str:
    """6 significant digits (far finer than any interval); empty when there is no value."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return str(x) if isinstance(x, int) else f"{x:.6g}"


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


# --- CSVs ------------------------------------------------------------------------------------


def _length_csv(la: LengthAdjusted | None) -> list[str]:
    """The length-adjusted columns; empty when no adjustment was made."""
    if la is None:
        return [""] * 9
    k, d = la.contrast, la.length_diff
    p = la.p_adjusted if la.p_adjusted is not None else k.p_value
    return [
        *(_csv6(x) for x in (k.estimate, k.low, k.high, la.share, p)),
        *(_csv6(x) for x in (d.estimate, d.low, d.high)),
        la.flag or "",
    ]


def _controlled_csv(lc: LengthControlled | None) -> list[str]:
    """The length-controlled columns; empty when there is no LC win rate."""
    if lc is None:
        return [""] * 6
    k = lc.contrast
    p = lc.p_adjusted if lc.p_adjusted is not None else k.p_value
    return [*(_csv6(x) for x in (k.estimate, k.low, k.high, lc.share, p)), lc.flag or ""]


def comparisons_csv(analysis: SweepAnalysis) -> str:
    rows = []
    for c in analysis.comparisons:
        k = c.contrast
        rows.append(
            [
                c.arm,
                c.baseline,
                _csv6(c.n_examples),
                _csv6(k.estimate),
                _csv6(k.low),
                _csv6(k.high),
                _csv6(k.n_prompts),
                _csv6(k.n_seeds),
                k.method,
                _csv6(k.p_value),
                _csv6(c.verdict.p_adjusted),
                c.verdict.label,
                *_length_csv(c.length_adjusted),
                *_controlled_csv(c.length_controlled),
            ]
        )
    return _csv_text(COMPARISON_COLUMNS, rows)


def fits_csv(analysis: SweepAnalysis) -> str:
    rows = [
        [f.arm, f.metric, _csv6(f.slope), _csv6(f.low), _csv6(f.high), f.verdict, f.method, f.text]
        for f in analysis.fits
    ]
    return _csv_text(FIT_COLUMNS, rows)


def cells_csv(analysis: SweepAnalysis) -> str:
    """One row per planned (arm, size); a missing cell has no seeds and empty values."""
    rows = []
    d = analysis.design
    for arm in d.arms:
        for n in d.sizes:
            p = analysis.point(arm, n)
            if p is None:
                rows.append([arm, str(n)] + [""] * (len(CELL_COLUMNS) - 2))
                continue
            j, h, lc = p.judge, p.heldout, p.lc_win_rate
            rows.append(
                [
                    arm,
                    str(n),
                    " ".join(str(s) for s in p.seeds),
                    _csv6(j.estimate if j else None),
                    _csv6(j.low if j else None),
                    _csv6(j.high if j else None),
                    _csv6(h.estimate if h else p.heldout_mean),
                    _csv6(h.low if h else None),
                    _csv6(h.high if h else None),
                    _csv6(p.unscored_rate),
                    *(_csv6(x) for x in ((lc.estimate, lc.low, lc.high) if lc else (None,) * 3)),
                ]
            )
    return _csv_text(CELL_COLUMNS, rows)


# --- Markdown sections -----------------------------------------------------------------------


def _interval_name(analysis: SweepAnalysis) -> str:
    """What the bars are, for titles: prompts only when any contrast lacks seed variance."""
    contrasts = [p.judge for p in analysis.points if p.judge] + [
        c.contrast for c in analysis.comparisons
    ]
    conf = f"{analysis.design.confidence:.0%} intervals"
    if any(not c.seed_variance_measured for c in contrasts):
        return f"{conf} over prompts only (1 seed: training randomness not measured)"
    return f"{conf} over prompts and seeds"


def _question(ctx: ReportContext) -> list[str]:
    d = ctx.analysis.design
    compared = f"each against the baseline `{d.baseline_arm}`" if d.baseline_arm else "every pair"
    return [
        "## Question",
        "",
        QUESTION,
        "",
        f"Arms: {', '.join(f'`{a}`' for a in d.arms)} ({compared}); "
        f"sizes: {', '.join(str(n) for n in d.sizes)} examples; "
        f"seeds: {', '.join(str(s) for s in d.seeds)}; "
        f"judge: {ctx.judge_name} (`{ctx.judge_model}`, {ctx.judge_mode} mode).",
        "",
    ]


def _arms(ctx: ReportContext) -> list[str]:
    lines = ["## Arms", ""]
    lines += [f"- **{a.name}** (pool `{a.pool}`): {a.description}" for a in ctx.arms]
    return [*lines, ""]


def _seeds_done(p: Point, planned: int) -> str:
    return (
        f"{len(p.seeds)} seed"
        + ("s" if len(p.seeds) != 1 else "")
        + (f" of {planned}" if len(p.seeds) < planned else "")
    )


def _judge_cell(p: Point | None, planned: int) -> str:
    if p is None:
        return "missing"
    value = _contrast(p.judge) if p.judge else "n/a (fewer than 2 prompts scored)"
    return f"{value}; {_seeds_done(p, planned)}"


def _heldout_cell(p: Point | None, planned: int) -> str:
    if p is None:
        return "missing"
    if p.heldout is not None:
        value = _contrast(p.heldout)
    else:
        value = _with_interval(p.heldout_mean, None, None, "per-prompt losses not kept")
    return f"{value}; {_seeds_done(p, planned)}"


def _grid(analysis: SweepAnalysis, cell: Callable[[Point | None, int], str]) -> list[str]:
    """An arm x size table; ``cell`` formats a point (None: missing) given the seeds planned."""
    d = analysis.design
    rows = [
        [f"**{arm}**"] + [cell(analysis.point(arm, n), len(d.seeds)) for n in d.sizes]
        for arm in d.arms
    ]
    return _table(["arm", *[f"n={n}" for n in d.sizes]], rows)


def _methods(contrasts: Iterable[Contrast | None]) -> list[str]:
    methods = list(dict.fromkeys(c.method for c in contrasts if c is not None))
    return [f"- Interval: {m}." for m in methods]  # a list: bare lines would run together


def _means(analysis: SweepAnalysis, figures: dict[str, str]) -> list[str]:
    conf = f"{analysis.design.confidence:.0%}"
    lines = [
        "## Judge score by arm and size",
        "",
        f"Seed-aware mean judge score [{conf} interval]; seeds done per cell.",
        "",
    ]
    lines += [*_grid(analysis, _judge_cell), ""]
    lines += [*_methods(p.judge for p in analysis.points), ""]
    if any(p.heldout is not None or p.heldout_mean is not None for p in analysis.points):
        lines += ["### Held-out loss (nats per token)", ""]
        lines += [*_grid(analysis, _heldout_cell), ""]
        lines += [*_methods(p.heldout for p in analysis.points), ""]
    lines += _task_accuracy(analysis) + _branching(analysis)
    if analysis.task_points or analysis.branching:
        alt = "Task accuracy and branching factor"
        lines += _figure(objective_plots.NAME, alt, figures)
    return lines + _figure("scaling_curve.png", "Scaling curve", figures)


def _task_accuracy(analysis: SweepAnalysis) -> list[str]:
    """Each objective task's accuracy by arm and size (no judge), seed- and prompt-aware."""
    d, lines = analysis.design, []
    for task in sorted({p.task for p in analysis.task_points}):
        at = {(p.arm, p.n_examples): p for p in analysis.task_points if p.task == task}
        rows = []
        for arm in d.arms:
            cells = []
            for n in d.sizes:
                p = at.get((arm, n))
                if p is None:
                    cells.append("missing")
                else:
                    value = _contrast(p.accuracy) if p.accuracy else "n/a (fewer than 2 prompts)"
                    cells.append(f"{value} ({len(p.seeds)}/{len(d.seeds)} seeds)")
            rows.append([f"**{arm}**", *cells])
        lines += [f"### Task accuracy: {task}", "",
                  "Share of answers right, scored without a judge (evaluation.tasks), mean over "
                  f"seeds [{d.confidence:.0%} interval over prompts and seeds].", "",
                  *_table(["arm", *[f"n={n}" for n in d.sizes]], rows), "",
                  *_methods(p.accuracy for p in at.values()), ""]  # fmt: skip
    return lines


def _factor(f: Factor | None) -> str:
    if f is None:
        return "n/a"
    return _with_interval(f.value, f.low, f.high, f.method)


def _branching(analysis: SweepAnalysis) -> list[str]:
    """The branching factor by arm and size, the base model's, and base / tuned."""
    if not analysis.branching and analysis.base_branching is None:
        return []
    d = analysis.design
    at = {(p.arm, p.n_examples): p for p in analysis.branching}
    lines = ["### Branching factor", "",
             "exp(mean next-token entropy along the model's own samples): how many tokens it "
             "keeps open per step (arXiv 2506.17871: alignment lowers it 2-5x). Mean over "
             f"seeds [{d.confidence:.0%} interval over prompts and seeds].", ""]  # fmt: skip
    if analysis.base_branching is not None:
        lines += [f"Base model (evaluation.measure_base): {_factor(analysis.base_branching)}.", ""]
    rows = [[f"**{arm}**", *[_factor(at[(arm, n)].factor) if (arm, n) in at else "missing"
                             for n in d.sizes]] for arm in d.arms]  # fmt: skip
    lines += [*_table(["arm", *[f"n={n}" for n in d.sizes]], rows), ""]
    ratios = [p for p in analysis.branching if p.fewer_than_base is not None]
    if ratios:
        lines += ["Base / tuned (times fewer branches than the base model):", ""]
        rows = [[f"**{arm}**", *[_factor(at[(arm, n)].fewer_than_base) if (arm, n) in at
                                 else "missing" for n in d.sizes]] for arm in d.arms]  # fmt: skip
        lines += [*_table(["arm", *[f"n={n}" for n in d.sizes]], rows), ""]
    methods = dict.fromkeys(p.factor.method for p in analysis.branching)
    methods |= dict.fromkeys(p.fewer_than_base.method for p in ratios if p.fewer_than_base)
    return lines + [f"- Interval: {m}." for m in methods if m] + [""]


def _rate(m: dict[str, Any], name: str) -> str:
    value = m.get(name)
    if not isinstance(value, int | float):
        return "n/a"
    low, high = m.get(f"{name}_ci_low"), m.get(f"{name}_ci_high")
    return _with_interval(float(value), low, high, "too few conversations")


def _dialogues(ctx: ReportContext) -> list[str]:
    """Multi-turn dialogue (LIMA section 6): each trial's share of Excellent turns, overall and
    per turn, intervals resampling conversations."""
    if not ctx.dialogues:
        return []
    names = {k for *_, m in ctx.dialogues for k in m}
    turns = sorted(int(k.split("_")[1].removeprefix("turn")) for k in names
                   if k.startswith("dialogue_turn") and k.endswith("_excellent_rate"))  # fmt: skip
    rows = [[arm, str(n), str(seed), _rate(m, "dialogue_excellent_rate"),
             *[_rate(m, f"dialogue_turn{t}_excellent_rate") for t in turns],
             _pct(m.get("dialogue_unscored_rate"))]
            for arm, n, seed, m in ctx.dialogues]  # fmt: skip
    header = ["arm", "n", "seed", "Excellent, all turns", *[f"turn {t}" for t in turns],
              "unscored"]  # fmt: skip
    return ["## Multi-turn dialogue", "",
            "Share of assistant turns the judge graded Excellent, each turn judged in the "
            f"context of the conversation so far [{ctx.analysis.design.confidence:.0%} interval "
            "resampling conversations; per trial: seeds are not pooled here].", "",
            *_table(header, rows), ""]  # fmt: skip


def _fit_name(metric: str) -> str:
    if metric.startswith("task_") and metric.endswith("_accuracy"):
        task = metric.removeprefix("task_").removesuffix("_accuracy")
        return f"task {task}: error exponent alpha (1 - accuracy ~ A n^-alpha)"
    return _FIT_METRIC.get(metric, metric)


def _figure(name: str, alt: str, figures: dict[str, str]) -> list[str]:
    if name in figures:
        return [f"{name} not drawn: {figures[name]}.", ""]
    return [f"![{alt}]({name})", ""]


def _comparisons(analysis: SweepAnalysis, figures: dict[str, str]) -> list[str]:
    lines = ["## Comparisons", ""]
    if not analysis.comparisons:
        reason = (
            "the sweep has one arm"
            if len(analysis.design.arms) < 2
            else "no pair of arms has done trials on shared prompts"
        )
        return [*lines, f"None: {reason}.", "", *_figure("differences.png", "", figures)]
    holm = any(c.verdict.p_adjusted is not None for c in analysis.comparisons)
    length = any(c.length_adjusted is not None for c in analysis.comparisons)
    header = ["arm", "baseline", "n", "difference [interval]", "p"]
    header += ["p (Holm)"] if holm else []
    header += ["length-adjusted [interval]", "tokens, arm - baseline"] if length else []
    controlled = any(c.length_controlled is not None for c in analysis.comparisons)
    header += ["LC win rate difference [interval]"] if controlled else []
    header += ["prompts", "seeds", "verdict"]
    rows = []
    for c in analysis.comparisons:
        k = c.contrast
        row = [
            c.arm,
            c.baseline,
            "all sizes" if c.n_examples is None else str(c.n_examples),
            _contrast(k, sign=True),
            _p(k.p_value),
        ]
        row += [_p(c.verdict.p_adjusted)] if holm else []
        row += _length_cells(c.length_adjusted) if length else []
        lc = c.length_controlled
        row += [_contrast(lc.contrast, sign=True) if lc else "n/a"] if controlled else []
        rows.append([*row, str(k.n_prompts), str(k.n_seeds), _verdict_cell(c)])
    lines += [*_table(header, rows), ""]
    lines += [*_methods(c.contrast for c in analysis.comparisons), ""]
    lines += _length_section(analysis) + _controlled_section(analysis)
    return lines + _figure("differences.png", "Arm differences", figures)


def _tokens(x: float | None) -> str:
    return f"{x:+.1f}" if x is not None and math.isfinite(x) else "n/a"


def _length_cells(la: LengthAdjusted | None) -> list[str]:
    if la is None:
        return ["n/a (not adjusted)", "n/a"]
    d = la.length_diff
    tokens = f"{_tokens(d.estimate)} [{_tokens(d.low)}, {_tokens(d.high)}]"
    return [_contrast(la.contrast, sign=True), tokens]


def _flag_text(found: LengthAdjusted | LengthControlled | None, prefix: str = "") -> str:
    if found is None or found.flag is None:
        return ""
    mostly = found.flag == MOSTLY_LENGTH and found.share is not None
    share = f" ({found.share:.0%} of the difference)" if mostly else ""
    return f"; {prefix}{found.flag}{share}"


def _verdict_cell(c: Comparison) -> str:
    """The verdict, the linear adjustment's flag, and the LC win rate's (pairwise)."""
    return (
        c.verdict.label
        + _flag_text(c.length_adjusted)
        + _flag_text(c.length_controlled, "LC win rate: ")
    )


def _g(x: float) -> str:
    return f"{x:+.3g}"


def _length_section(analysis: SweepAnalysis) -> list[str]:
    """The length adjustment: its slope, the rule of the flag, and each cell's mean length."""
    slope, conf = analysis.length_slope, f"{analysis.design.confidence:.0%}"
    lines = ["### Response length", ""]
    if slope is None:
        lines += [f"Not adjusted for response length: {analysis.length_note}.", ""]
    else:
        lines += _length_text(slope)
    if any(p.length is not None for p in analysis.points):
        lines += [f"Mean response tokens of the scored responses [{conf} interval]:", ""]
        lines += [*_grid(analysis, _length_point), ""]
    return lines


def _length_text(slope: LengthSlope) -> list[str]:
    conf = f"{slope.confidence:.0%}"
    alpha = f"{1 - slope.confidence:.2g}"
    return [
        "Judges favour longer answers, so each difference is also shown adjusted for length: "
        "minus the judge's points per response token times the arms' mean length difference. "
        f"The slope, {_g(slope.slope)} points per token [{conf} interval {_g(slope.low)}, "
        f"{_g(slope.high)}], is estimated within trial and prompt (between one trial's samples "
        f"of one prompt; {slope.n_prompts} prompts, {slope.n_samples} samples), so no "
        "difference between arms enters it; the assumption is that the judge rewards a token "
        "the same whether an answer is longer by chance or because its arm writes longer. "
        "The adjusted interval includes the slope's uncertainty.",
        "",
        'Rules declared before the data: a comparison is "mostly length" when it says "A beats '
        f'B" and its length-adjusted difference has p >= {alpha} (Holm-adjusted the same way), '
        'and "A beats B after length adjustment" when the adjusted difference has p < '
        f"{alpha} and the verdict says otherwise. "
        "The share of a difference due to length, (difference - adjusted) / difference, is "
        "comparisons.csv's length_share, without an interval (a ratio whose denominator's "
        "interval can hold 0).",
        "",
    ]


def _controlled_section(analysis: SweepAnalysis) -> list[str]:
    """Pairwise sweeps: AlpacaEval's length-controlled win rate, its rule, each cell's and
    each trial's."""
    if not analysis.design.pairwise:
        return []
    lines = ["### Length-controlled win rate (AlpacaEval)", ""]
    if not analysis.lc_trials:
        return [*lines, f"Not computed: {analysis.lc_note or 'no trial is done'}.", ""]
    alpha = f"{1 - analysis.design.confidence:.2g}"
    lines += [
        "AlpacaEval 2's GLM (Dubois et al. 2024) on each trial's judgments against the "
        "reference: logit P(win) = theta_trial + psi_trial * prompt difficulty + phi * "
        "tanh((response tokens - reference tokens) / sd), the difficulty the sweep's own "
        "(each trial left out of its own) and phi, the judge's length preference, one for "
        "the sweep. The LC win rate is the fit's mean prediction with the length term at 0: "
        "the win rate had every response been as long as its reference. Its intervals "
        "linearise it per prompt (delta method, phi's uncertainty included), so they "
        "resample prompts and, with several seeds, include training randomness; ties count "
        '0.5. Comparisons give the LC difference between arms, "mostly length" by the rule '
        f"above (LC p >= {alpha}).",
        "",
    ]
    pref = analysis.lc_preference
    if pref is not None:
        phi = _with_interval(pref.phi.estimate, pref.phi.low, pref.phi.high, pref.phi.method,
                             sign=True)  # fmt: skip
        lines += [f"Length preference phi: {phi} logits (sd {pref.scale:.1f} tokens; "
                  f"{pref.n_prompts} prompts, {pref.n_responses} responses).", ""]  # fmt: skip
    if analysis.lc_note:
        lines += [f"Without an LC win rate: {analysis.lc_note}.", ""]
    lines += ["LC win rate [interval] (raw win rate [interval]):", "", *_grid(analysis, _lc_point)]
    header = ["arm", "n", "seed", "win rate", "LC win rate", "tokens, response - reference",
              "prompts"]  # fmt: skip
    rows = [_lc_trial_row(t) for t in analysis.lc_trials]
    return [*lines, "", "Per trial, intervals over its prompts:", "", *_table(header, rows), ""]


def _lc_point(p: Point | None, planned: int) -> str:
    if p is None:
        return "missing"
    if p.lc_win_rate is None:
        return "n/a"
    raw = _contrast(p.judge) if p.judge else "n/a"
    return f"{_contrast(p.lc_win_rate)} ({raw})"


def _lc_trial_row(t: TrialWinRate) -> list[str]:
    arm, n, seed = t.key
    w, lc, d = t.win_rate, t.lc_win_rate, t.length_diff
    tokens = f"{_tokens(d.estimate)} [{_tokens(d.low)}, {_tokens(d.high)}]"
    return [arm, str(n), str(seed), _with_interval(w.estimate, w.low, w.high, w.method),
            _with_interval(lc.estimate, lc.low, lc.high, lc.method), tokens,
            str(t.n_prompts)]  # fmt: skip


def _length_point(p: Point | None, planned: int) -> str:
    if p is None:
        return "missing"
    if p.length is None:
        return "n/a"
    c = p.length
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return f"{c.estimate:.1f} (no interval: {c.method})"
    return f"{c.estimate:.1f} [{c.low:.1f}, {c.high:.1f}]"


def _at(c: Comparison) -> str:
    return "all sizes" if c.n_examples is None else f"n={c.n_examples}"


def _fit_value(f: Fit) -> str:
    return _with_interval(f.slope, f.low, f.high, f.method, sign=f.metric.startswith("judge_mean"))


_FIT_METRIC = {
    "judge_mean": "judge slope (points per doubling of n)",
    "heldout_loss": "held-out loss exponent alpha (loss ~ A n^-alpha)",
    "judge_mean_length_adjusted": "judge slope adjusted for response length (points per doubling)",
}


def _fits(analysis: SweepAnalysis) -> list[str]:
    d = analysis.design
    lines = [
        "## Scaling fits and verdicts",
        "",
        f'Rules declared before the data: a comparison says "A beats B" when its p '
        f"(Holm-adjusted when there are more than two arms) is below "
        f'{1 - d.confidence:.2g}; a judge slope is "rising" / "falling" when its '
        f'{d.confidence:.0%} interval excludes 0, "plateau" only when the interval lies '
        f"inside the equivalence margin of +-{d.equivalence_margin:g} points per doubling, "
        f'and "inconclusive" otherwise; a task\'s accuracy "rises with n" when the interval of '
        f"its error's power-law exponent lies above 0. Overlapping error bars decide nothing.",
        "",
    ]
    if analysis.fits:
        rows = [
            [f.arm, _fit_name(f.metric), _fit_value(f), f.verdict]
            for f in analysis.fits
        ]
        lines += [*_table(["arm", "fit", "estimate [interval]", "verdict"], rows), ""]
    else:
        lines += ["No scaling fit: no arm has done trials at 2 or more sizes.", ""]
    texts = [f"{_at(c)}: {c.verdict.text}" for c in analysis.comparisons] + [
        f"{f.arm}, {_fit_name(f.metric)}: {f.text}" for f in analysis.fits
    ]
    if texts:
        lines += ["Verdicts:", "", *[f"- {t}" for t in texts], ""]
    return lines


def _accounting(ctx: ReportContext) -> list[str]:
    lines = [
        "## Judge accounting",
        "",
        "Totals over the sweep's trials: tallies of what happened, not estimates, so "
        "they carry no interval.",
        "",
    ]
    rows = []
    for key in [*_ACCOUNTING, *sorted(set(ctx.accounting) - set(_ACCOUNTING))]:
        if key in ctx.accounting:
            value = ctx.accounting[key]
            shown = f"{value:.4f}" if key.endswith("cost_usd") else f"{value:,.0f}"
            rows.append([_ACCOUNTING.get(key, key), shown])
        elif key == "judge_cost_usd":
            rows.append([_ACCOUNTING[key], "unknown (no prices declared for this judge)"])
    lines += [*_table(["what", "total"], rows), ""]
    if ctx.search_lines:  # a search has no arms x sizes: its trials table has each rate
        return lines
    return lines + _unscored(ctx)


def _unscored(ctx: ReportContext) -> list[str]:
    """Unscored share per cell, and per arm over its done trials (each trial judges the same
    prompts and samples, so their plain mean is the share over all the arm's responses)."""
    d = ctx.analysis.design
    done = [t for t in ctx.trials if t.status == "done" and t.unscored_rate is not None]
    rows = []
    for arm in d.arms:
        cells = [ctx.analysis.point(arm, n) for n in d.sizes]
        rates = [t.unscored_rate for t in done if t.arm == arm and t.unscored_rate is not None]
        overall = sum(rates) / len(rates) if rates else None
        rows.append(
            [arm, *[_pct(p.unscored_rate) if p else "missing" for p in cells], _pct(overall)]
        )
    header = ["arm", *[f"n={n}" for n in d.sizes], "all"]
    intro = (
        "Share of responses the judge could not score (recorded, never counted as low "
        "scores): a tally, not an estimate. Where two arms' rates differ by more than chance, "
        '"What was not measured" says so.'
    )
    return ["### Unscored responses", "", intro, "", *_table(header, rows), ""]


def _trial_row(t: TrialRow, tasks: list[str], branching: bool) -> list[str]:
    head = [t.arm, str(t.n_examples), str(t.seed), t.status]
    extra = [t.tasks.get(name) for name in tasks] + ([t.branching] if branching else [])
    if t.status != "done":
        return [*head, "-", "-", "-", *["-" for _ in extra]]
    return [
        *head,
        _with_interval(t.judge_mean, t.judge_ci_low, t.judge_ci_high, "none recorded"),
        _with_interval(t.heldout_loss, t.heldout_ci_low, t.heldout_ci_high, "none recorded"),
        _pct(t.unscored_rate),
        *[_with_interval(*(e or (None, None, None)), "none recorded") for e in extra],
    ]


def _trials(ctx: ReportContext, figures: dict[str, str]) -> list[str]:
    d = ctx.analysis.design
    order = {a: i for i, a in enumerate(d.arms)}
    trials = sorted(
        ctx.trials, key=lambda t: (order.get(t.arm, len(order)), t.arm, t.n_examples, t.seed)
    )
    tasks = sorted({name for t in trials for name in t.tasks})
    branching = any(t.branching is not None for t in trials)
    rows = [_trial_row(t, tasks, branching) for t in trials]
    lines = [
        "## Trials",
        "",
        f"Per trial: intervals over that trial's prompts only ({d.confidence:.0%}).",
        "",
    ]
    if rows:
        header = ["arm", "n", "seed", "status", "judge mean", "held-out loss", "unscored"]
        header += [f"task {name}" for name in tasks]
        header += ["branching factor"] if branching else []
        lines += [*_table(header, rows), ""]
    else:
        lines += ["No trial is planned.", ""]
    flags = [f"- {t.arm} n={t.n_examples} seed {t.seed}: {f}" for t in trials for f in t.flags]
    lines += ["Flags raised:", "", *flags, ""] if flags else []
    return lines + _figure("training_loss.png", "Training loss", figures)


def _missing_name(arm: str, n: int, seed: int, status: dict[tuple[str, int, int], str]) -> str:
    label = status.get((arm, n, seed))
    return f"{arm}/n={n}/seed {seed}" + (f" ({label})" if label else "")


def _not_measured(ctx: ReportContext, figures: dict[str, str]) -> list[str]:
    a = ctx.analysis
    status = {(t.arm, t.n_examples, t.seed): t.status for t in ctx.trials if t.status != "done"}
    lines = ["## What was not measured", ""]
    if ctx.search_lines:  # the search section says what its numbers leave out
        items = [f"{name}: not drawn, {why}" for name, why in figures.items()]
        items += ctx.not_measured
        return lines + ([f"- {x}" for x in items] if items else ["Nothing left out."]) + [""]
    items = list(a.notes)
    if a.missing:
        names = ", ".join(_missing_name(*m, status) for m in a.missing)
        items.append(f"{len(a.missing)} planned trial(s) not done (missing cells): {names}")
    if len(a.design.sizes) < 2:
        items.append("the scaling with the number of examples: the sweep has one size")
    if a.points and not any(p.heldout is not None or p.heldout_mean is not None for p in a.points):
        items.append("held-out loss: no done trial recorded it")
    items += [f"{name}: not drawn, {why}" for name, why in figures.items()]
    items += ctx.not_measured
    return lines + ([f"- {x}" for x in items] if items else ["Nothing left out."]) + [""]


def _how_to_read(analysis: SweepAnalysis) -> list[str]:
    d = analysis.design
    conf = f"{d.confidence:.0%}"
    holm = (
        f"With {len(d.arms)} arms the p-values of the comparisons at one size (and the pooled "
        "ones) are Holm-adjusted together, and the verdicts use the adjusted p; the intervals "
        'shown are unadjusted, so one that excludes 0 can still read "no detectable '
        'difference".'
        if len(d.arms) > 2
        else "With two arms or fewer there is one comparison per size, so no correction for "
        "multiple comparisons applies (Holm is used with more than two arms)."
    )
    return [
        "## How to read this",
        "",
        f"Every interval is a {conf} interval. Means, differences and slopes are linear "
        "contrasts of cell means with prompts and training seeds both random: t intervals "
        "whose variance adds the prompt part and the training-seed part (split-plot mean "
        "squares pooled over the sweep), with Satterthwaite degrees of freedom. Differences "
        "are paired on the "
        'prompts both arms share; "all sizes" is the mean difference over the sizes both '
        "arms have. With one seed per cell the intervals cover prompt sampling only. The "
        "held-out loss exponent is a log-log least-squares fit over trials, with a t interval "
        "from its residuals. Per-trial intervals (Trials) cover that trial's prompts only. "
        "The verdict rules above were declared before the data; overlapping error bars "
        f"are not a test. {holm}",
        "",
    ]


def render_markdown(ctx: ReportContext, skipped: dict[str, str]) -> str:
    """report.md; ``skipped`` maps a PNG not drawn to why."""
    a = ctx.analysis
    lines = [f"# Ablation report: {ctx.sweep}", "", f"Generated {ctx.generated_at}.", ""]
    if ctx.search_lines:
        lines += ctx.search_lines + _accounting(ctx) + _trials(ctx, skipped)
        lines += _not_measured(ctx, skipped)
        return "\n".join(lines).rstrip("\n") + "\n"
    lines += _question(ctx) + _arms(ctx) + _means(a, skipped) + _comparisons(a, skipped)
    lines += _fits(a) + _dialogues(ctx) + _accounting(ctx) + _trials(ctx, skipped)
    lines += _not_measured(ctx, skipped) + _how_to_read(a)
    return "\n".join(lines).rstrip("\n") + "\n"


# --- Files -----------------------------------------------------------------------------------


def _draw(ctx: ReportContext, folder: Path) -> tuple[list[Path], dict[str, str]]:
    """Draw each figure that has data; a figure without data is removed if an earlier report
    left one (it would contradict this report) and named with the reason."""
    a, d = ctx.analysis, ctx.analysis.design
    if ctx.search_lines:
        return _draw_search(ctx, folder)
    interval = _interval_name(a)
    judge_axis = f"mean judge score ({ctx.judge_mode}, points)"
    drawn = {
        "scaling_curve.png": (
            plots.scaling_curve(
                a.points, d.arms, d.sizes, folder / "scaling_curve.png", interval, judge_axis
            ),
            "no arm and size has a judge mean yet",
        ),
        objective_plots.NAME: (
            objective_plots.objective_curves(
                a.task_points,
                a.branching,
                a.base_branching,
                d.arms,
                d.sizes,
                folder / objective_plots.NAME,
                interval,
            ),
            "no task accuracy or branching factor was measured",
        ),
        "differences.png": (
            plots.differences(a.comparisons, d.arms, folder / "differences.png", interval),
            "no comparison was made",
        ),
        "training_loss.png": (
            plots.training_loss(ctx.loss_curves, d.arms, d.sizes, folder / "training_loss.png"),
            "no training loss curve was recorded",
        ),
    }
    skipped = {name: why for name, (ok, why) in drawn.items() if not ok}
    for name in skipped:
        (folder / name).unlink(missing_ok=True)
    return [folder / name for name in PNG_NAMES if name not in skipped], skipped


def _draw_search(ctx: ReportContext, folder: Path) -> tuple[list[Path], dict[str, str]]:
    """A search's figures: its own (drawn by the caller) and the training-loss curves."""
    for name in ("scaling_curve.png", objective_plots.NAME, "differences.png"):  # a grid's
        (folder / name).unlink(missing_ok=True)
    arms = sorted({arm for arm, _, _ in ctx.loss_curves})
    sizes = sorted({n for _, n, _ in ctx.loss_curves})
    path = folder / "training_loss.png"
    if plots.training_loss(ctx.loss_curves, arms, sizes, path):
        return [*ctx.search_pngs, path], {}
    path.unlink(missing_ok=True)
    return list(ctx.search_pngs), {"training_loss.png": "no training loss curve was recorded"}


def write_report(ctx: ReportContext, folder: Path) -> ReportFiles:
    """Write the report into ``folder`` (created if needed): figures first, so that report.md
    names only figures that exist."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs, skipped = _draw(ctx, folder)
    files = ReportFiles(
        folder,
        folder / "report.md",
        folder / "comparisons.csv",
        folder / "fits.csv",
        folder / "cells.csv",
        pngs,
    )
    atomic_write_text(files.comparisons, comparisons_csv(ctx.analysis))
    atomic_write_text(files.fits, fits_csv(ctx.analysis))
    atomic_write_text(files.cells, cells_csv(ctx.analysis))
    atomic_write_text(files.markdown, render_markdown(ctx, skipped))
    return files


# --- Terminal --------------------------------------------------------------------------------


def _comparison_line(c: Comparison) -> tuple[str, str, str]:
    k = c.contrast
    p = c.verdict.p_adjusted if c.verdict.p_adjusted is not None else k.p_value
    holm = " (Holm)" if c.verdict.p_adjusted is not None else ""
    seeds = "" if k.seed_variance_measured else "; prompts only: 1 seed"
    numbers = f"{_contrast(k, sign=True)}, p{holm} = {p:.3g}{seeds}"
    la, lc = c.length_adjusted, c.length_controlled
    if la is not None:
        numbers += f"; length-adjusted {_contrast(la.contrast, sign=True)}"
    if lc is not None:
        numbers += f"; LC win rate {_contrast(lc.contrast, sign=True)}"
    return f"{c.arm} - {c.baseline} @ {_at(c)}", _verdict_cell(c), numbers


def verdict_lines(analysis: SweepAnalysis) -> list[tuple[str, str, str]]:
    """(what, verdict, numbers) for a short terminal table: the comparisons at the largest
    size that has any, the pooled ones, and every fit."""
    sized = [c.n_examples for c in analysis.comparisons if c.n_examples is not None]
    largest = max(sized) if sized else None
    chosen = [c for c in analysis.comparisons if c.n_examples in (largest, None)]
    lines = [_comparison_line(c) for c in chosen]
    for f in analysis.fits:
        task = f.metric.removeprefix("task_").removesuffix("_accuracy")
        what = {
            "judge_mean": "slope per doubling",
            "judge_mean_length_adjusted": "length-adjusted slope",
            "heldout_loss": "held-out loss exponent",
        }.get(f.metric, f"task {task} error exponent")
        # The exponent is the error's; what rises or falls with n is the accuracy.
        rises_or_falls = f.metric.startswith("task_") and f.verdict.endswith("with n")
        verdict = f"accuracy {f.verdict}" if rises_or_falls else f.verdict
        lines.append((f"{f.arm} {what}", verdict, _fit_value(f)))
    return lines
