"""A search's part of the report: its section of report.md (the space, the budget, the best
configurations, which settings mattered, the mixture fit, the confirmation), search.csv and
search_history.png.

Like ablate.report, it only formats what ablate.analysis.search computed, and every number is
shown as "value [low, high]" or says why it has no interval (CONTRIBUTING.md, principle 13).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate import plots
from ablate.analysis.search import ConfigResult, ConfirmComparison, SearchAnswer
from ablate.analysis.search_fits import Estimate
from ablate.files import atomic_write_text
from ablate.report import _csv6, _csv_text, _p, _table, _with_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ablate.search.space import Dimension

SEARCH_CSV = "search.csv"
SEARCH_PNG = "search_history.png"
SEARCH_COLUMNS = ["rank", "arm", "role", "objective", "value", "low", "high", "n_seeds"]
TOP = 5  # configurations shown in report.md (search.csv has them all)
_AXIS = {
    "judge_mean": "mean judge score (points)",
    "heldout_loss": "held-out loss (nats per token)",
}


@dataclass(frozen=True)
class SearchFiles:
    csv: Path
    png: Path | None  # None: not drawn (the section says why)
    lines: list[str]  # the section of report.md


def _est(e: Estimate, sign: bool = False) -> str:
    return _with_interval(e.value, e.low, e.high, e.method, sign)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _readable(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


# --- search.csv --------------------------------------------------------------------------------


def _csv_row(r: ConfigResult, objective: str, dims: Sequence[Dimension]) -> list[str]:
    e = r.objective
    head = [str(r.rank) if r.rank else "", r.arm, r.role, objective, _csv6(e.value)]
    values = [
        _csv6(v) if isinstance(v, int | float) and not isinstance(v, bool) else _readable(v)
        for v in (r.values.get(d.name) for d in dims)
    ]
    return [*head, _csv6(e.low), _csv6(e.high), str(len(r.seeds)), *values]


def search_csv(answer: SearchAnswer, dims: Sequence[Dimension]) -> str:
    """One row per configuration: the search's, best first, then the confirmed ones (their
    value is the mean over the fresh seeds; their rank is the one the search gave them)."""
    rows = [_csv_row(r, answer.objective, dims) for r in answer.configurations + answer.confirmed]
    return _csv_text([*SEARCH_COLUMNS, *(d.name for d in dims)], rows)


# --- report.md ---------------------------------------------------------------------------------


def _space(dims: Sequence[Dimension], sampler: str, budget: int, answer: SearchAnswer) -> list[str]:
    seeds = sorted({len(r.seeds) for r in answer.configurations})
    per = f", on {'/'.join(map(str, seeds))} seed(s) each" if seeds else ""
    lines = [
        "## Search",
        "",
        f"Optuna's `{sampler}` sampler proposed configurations to {answer.direction} "
        f"`{answer.objective}`; {len(answer.configurations)} of the budget of {budget} "
        f"configurations are done{per} (a tally, no interval).",
        "",
    ]
    rows = [[f"`{d.name}`", d.describe()] for d in dims]
    return [*lines, *_table(["setting", "searched as"], rows), ""]


def _best(answer: SearchAnswer, dims: Sequence[Dimension], top: int, figure: str) -> list[str]:
    conf = f"{answer.confidence:.0%}"
    lines = [f"### Best configurations ({answer.objective}, {answer.direction})", ""]
    if not answer.configurations:
        return [*lines, "None done yet.", "", *figure_lines(figure)]
    shown = answer.configurations[:top]
    header = ["rank", "arm", f"{answer.objective} [{conf} interval]", "seeds"]
    header += [f"`{d.name}`" for d in dims]
    rows = [
        [str(r.rank), r.arm, _est(r.objective), str(len(r.seeds))]
        + [_readable(r.values.get(d.name)) for d in dims]
        for r in shown
    ]
    lines += [*_table(header, rows), ""]
    more = len(answer.configurations) - len(shown)
    lines += [f"{more} more in {SEARCH_CSV}.", ""] if more > 0 else []
    methods = dict.fromkeys(r.objective.method for r in shown if r.objective.method)
    lines += [f"- Interval: {m}." for m in methods]
    lines += [*(f"- {_sentence(n)}." for n in answer.notes), ""]
    return lines + figure_lines(figure)


def figure_lines(figure: str) -> list[str]:
    """The figure, or why it was not drawn (``figure`` starts with "not drawn")."""
    if figure.startswith("not drawn"):
        return [f"{SEARCH_PNG} {figure}.", ""]
    return [f"![Search history]({SEARCH_PNG})", ""]


def _importances(answer: SearchAnswer) -> list[str]:
    lines = ["### Which settings mattered", ""]
    if not answer.importances:
        return [*lines, f"{_sentence(answer.importance_note)}.", ""]
    conf = f"{answer.confidence:.0%}"
    rows = [[f"`{i.name}`", _est(i.share)] for i in answer.importances]
    lines += [*_table(["setting", f"share of variance [{conf} interval]"], rows), ""]
    methods = dict.fromkeys(i.share.method for i in answer.importances)
    return [*lines, f"{_sentence(answer.importance_note)}.", "",
            *(f"- Interval: {m}." for m in methods), ""]  # fmt: skip


def _mixture(answer: SearchAnswer) -> list[str]:
    if not answer.mixture_note:
        return []
    lines = ["### Mixture", ""]
    fit = answer.mixture
    if fit is None:
        return [*lines, f"{_sentence(answer.mixture_note)}.", ""]
    conf = f"{answer.confidence:.0%}"
    weights = ", ".join(f"`{pool}` {_est(e)}" for pool, e in fit.best.items())
    return [
        *lines,
        f"Predicted best mixture [{conf} intervals]: {weights}; predicted `{answer.objective}` "
        f"there, the other settings at their mean: {_est(fit.predicted)}.",
        "",
        f"- Interval: {fit.predicted.method}.",
        f"- {_sentence(answer.mixture_note)}.",
        "",
    ]


def _comparison_row(c: ConfirmComparison) -> list[str]:
    p = c.p_adjusted if c.p_adjusted is not None else c.p_value
    p_text = _p(p) if math.isfinite(p) else "n/a"
    return [f"{c.best} - {c.other}", _est(c.difference, sign=True), p_text, c.verdict]


def _confirmation(answer: SearchAnswer) -> list[str]:
    lines = ["### Confirmation on fresh seeds", ""]
    if not answer.confirmed:
        return [*lines, "No configuration was re-run on fresh seeds (search.confirm).", ""]
    conf = f"{answer.confidence:.0%}"
    rows = [[str(r.rank or "?"), r.arm, _est(r.objective), ", ".join(map(str, r.seeds))]
            for r in answer.confirmed]  # fmt: skip
    header = ["search rank", "arm", f"{answer.objective} [{conf} interval]", "fresh seeds"]
    lines += [*_table(header, rows), ""]
    if not answer.comparisons:
        return [*lines, "One configuration confirmed: nothing to compare it with.", ""]
    several = len(answer.comparisons) > 1
    lines += [
        f'Rule, declared before the data: "A beats B" only when the {conf} interval of the '
        f"difference excludes 0, that is p below {1 - answer.confidence:.2g}"
        + (" (Holm-adjusted over the comparisons)" if several else "")
        + '; otherwise "no detectable difference". The search\'s best is compared with each '
        "other confirmed configuration on the fresh seeds only.",
        "",
    ]
    header = ["best - other", f"difference [{conf} interval]", "p (Holm)" if several else "p"]
    header.append("verdict")
    lines += [*_table(header, [_comparison_row(c) for c in answer.comparisons]), ""]
    methods = dict.fromkeys(c.difference.method for c in answer.comparisons)
    return [*lines, *(f"- Interval: {m}." for m in methods), ""]


def search_section(
    answer: SearchAnswer,
    dims: Sequence[Dimension],
    sampler: str,
    budget: int,
    figure: str = "drawn",
    top: int = TOP,
) -> list[str]:
    """The search's markdown lines; ``figure``: "drawn" or "not drawn: <why>"."""
    return (
        _space(dims, sampler, budget, answer)
        + _best(answer, dims, top, figure)
        + _importances(answer)
        + _mixture(answer)
        + _confirmation(answer)
    )


# --- search_history.png ------------------------------------------------------------------------


def _bars(ax: Axes, xs: Sequence[float], rows: Sequence[ConfigResult], colour: str) -> None:
    """Configurations with an interval as bars, those without as hollow markers."""
    for x, r in zip(xs, rows, strict=True):
        e = r.objective
        if e.has_interval:
            ax.errorbar([x], [e.value], yerr=[[e.value - e.low], [e.high - e.value]], fmt="o",
                        color=colour, capsize=3, markersize=5, linewidth=1.4, zorder=3)  # fmt: skip
        else:
            ax.plot([x], [e.value], "o", color=colour, markerfacecolor="white", markersize=5,
                    zorder=3)  # fmt: skip


def _history(ax: Axes, answer: SearchAnswer) -> None:
    from matplotlib.ticker import MaxNLocator

    rows = sorted(answer.configurations, key=lambda r: r.order)
    xs = [float(r.order) for r in rows]
    _bars(ax, xs, rows, plots._COLOURS[0])
    pick = max if answer.direction == "maximize" else min
    running = [pick(r.objective.value for r in rows[: i + 1]) for i in range(len(rows))]
    ax.step(xs, running, where="post", color=plots._COLOURS[1], linewidth=1.8,
            label="best so far")  # fmt: skip
    best = answer.configurations[0]
    ax.plot([best.order], [best.objective.value], "*", color=plots._COLOURS[3], markersize=14,
            label=f"best: {best.arm}", zorder=3)  # fmt: skip
    ylabel = _AXIS.get(answer.objective, answer.objective)
    ax.set(xlabel="configuration, in the order proposed", ylabel=ylabel, title="Search history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")


def _weight_panel(ax: Axes, answer: SearchAnswer, pool: str) -> None:
    rows = [r for r in answer.configurations if isinstance(r.values.get(pool), int | float)]
    _bars(ax, [float(r.values[pool]) for r in rows], rows, plots._COLOURS[0])
    name = pool.removeprefix("mixture.")
    fit = answer.mixture
    if fit is not None and fit.curve:
        w, y, low, high = zip(*fit.curve, strict=True)
        ax.plot(w, y, color=plots._COLOURS[2], linewidth=1.8,
                label=f"fit ({fit.model}; other settings at their mean)")  # fmt: skip
        ax.fill_between(w, low, high, color=plots._COLOURS[2], alpha=0.15, linewidth=0,
                        label="fit's bootstrap band")  # fmt: skip
        ax.axvline(fit.best[name].value, color=plots._COLOURS[3], linestyle="--",
                   label=f"predicted best: {fit.best[name].value:.2f}")  # fmt: skip
        ax.legend(loc="best")
    ax.set(xlabel=f"weight of pool {name}", xlim=(-0.03, 1.03), title="Against the mixture")


def search_history(answer: SearchAnswer, dims: Sequence[Dimension], path: Path) -> bool:
    """The objective of each configuration in proposal order with the running best; beside it,
    with one or two weight dimensions, the objective against the first pool's weight and the
    fitted curve. False, drawing nothing, when no configuration is done."""
    if not answer.configurations:
        return False
    weights = [d.name for d in dims if d.kind == "weight"]
    panel = weights[0] if len(weights) in (1, 2) else None
    conf = f"{answer.confidence:.0%}"
    with plots._style():
        fig, axes = plots._figure(12.5 if panel else 7.5, 4.8, 2 if panel else 1)
        _history(axes[0], answer)
        if panel:
            _weight_panel(axes[1], answer, panel)
        fig.suptitle(f"{answer.objective} of each configuration; bars: {conf} intervals "
                     "(hollow: none)")  # fmt: skip
        plots._save(fig, path)
    return True


def write_search_report(
    answer: SearchAnswer, dims: Sequence[Dimension], sampler: str, budget: int, folder: Path
) -> SearchFiles:
    """search.csv and search_history.png in ``folder``, and the section for report.md (drawn
    first, so the section names only a figure that exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / SEARCH_PNG
    drawn = search_history(answer, dims, png)
    if not drawn:
        png.unlink(missing_ok=True)  # an earlier report's figure would contradict this one
    atomic_write_text(folder / SEARCH_CSV, search_csv(answer, dims))
    figure = "drawn" if drawn else "not drawn: no configuration is done yet"
    lines = search_section(answer, dims, sampler, budget, figure)
    return SearchFiles(folder / SEARCH_CSV, png if drawn else None, lines)


def terminal_rows(answer: SearchAnswer, top: int = 3) -> list[tuple[str, str, str]]:
    """(configuration, objective [interval], its settings) for the best few, then each
    confirmation's verdict: what `ablate run` prints at its end."""
    rows = []
    for r in answer.configurations[:top]:
        settings = ", ".join(f"{k}={_readable(v)}" for k, v in r.values.items())
        rows.append((f"#{r.rank} {r.arm}", _est(r.objective), settings))
    for c in answer.comparisons:
        rows.append((f"{c.best} - {c.other} (fresh seeds)", _est(c.difference, sign=True),
                     c.verdict))  # fmt: skip
    return rows
