"""The report's figures: the scaling curve, the arm differences and the training loss.

matplotlib is imported inside the functions (a heavy import the rest of the package does not
need) and drawn through an explicit Agg canvas on a bare Figure, never pyplot: no global
backend is switched in the caller's process (a notebook keeps its own), and no figure is left
registered in pyplot's state. Each function returns False, drawing nothing, when it has no
data; the report says so. Files are written to a temporary name in the same folder and then
renamed, so a reader never sees half a PNG.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ablate.analysis.sweep import Comparison, Point

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 120
# Fonts large enough to read at 100% zoom at this dpi.
_STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
# matplotlib's tab10, spelled out so that colours do not depend on the user's style.
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_LINESTYLES: tuple[Any, ...] = (
    "-",
    "--",
    ":",
    "-.",
    (0, (5, 1, 1, 1)),
    (0, (1, 3)),
)
LossCurves = Mapping[tuple[str, int, int], Sequence[tuple[int, float]]]


class _Mark(NamedTuple):
    """One plotted estimate; low/high NaN when it has no interval (drawn without a bar)."""

    arm: str
    n: int
    value: float
    low: float
    high: float


def arm_colours(arms: Sequence[str]) -> dict[str, str]:
    """One colour per arm, by the arm's position in the design (stable across figures)."""
    return {arm: _COLOURS[i % len(_COLOURS)] for i, arm in enumerate(arms)}


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        yield


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _save(fig: Figure, path: Path) -> None:
    """Atomic write: a temporary name in the same folder (same file system), then rename.
    Software metadata is dropped so that the bytes depend on the figure only."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            fig.savefig(handle, format="png", dpi=DPI, metadata={"Software": None})
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _log2_axis(ax: Axes, sizes: Sequence[int]) -> None:
    """Log2 x axis labelled with the sweep's sizes themselves (not 2^k), no minor ticks."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), labels=[str(n) for n in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(min(sizes) / 2**0.5, max(sizes) * 2**0.5)
    if len(sizes) > 8:  # long tick rows would touch
        ax.tick_params(axis="x", labelrotation=45)


def _curve(ax: Axes, marks: Sequence[_Mark], arms: Sequence[str], colours: dict[str, str]) -> None:
    """One line per arm with error bars; arms are dodged sideways (a few hundredths of a
    doubling) so that bars at the same size do not hide each other."""
    step = min(0.05, 0.4 / max(1, len(arms)))
    for i, arm in enumerate(arms):
        mine = sorted((m for m in marks if m.arm == arm), key=lambda m: m.n)
        if not mine:
            continue
        shift = 2 ** (step * (i - (len(arms) - 1) / 2))
        below = [m.value - m.low if math.isfinite(m.low) else 0.0 for m in mine]
        above = [m.high - m.value if math.isfinite(m.high) else 0.0 for m in mine]
        ax.errorbar(
            [m.n * shift for m in mine],
            [m.value for m in mine],
            yerr=[below, above],
            fmt="-o",
            color=colours[arm],
            capsize=4,
            linewidth=1.8,
            markersize=6,
            label=arm,
        )


def _judge_marks(points: Sequence[Point]) -> list[_Mark]:
    return [
        _Mark(p.arm, p.n_examples, p.judge.estimate, p.judge.low, p.judge.high)
        for p in points
        if p.judge is not None and math.isfinite(p.judge.estimate)
    ]


def _heldout_marks(points: Sequence[Point]) -> list[_Mark]:
    marks = []
    for p in points:
        if p.heldout is not None:
            marks.append(
                _Mark(p.arm, p.n_examples, p.heldout.estimate, p.heldout.low, p.heldout.high)
            )
        elif p.heldout_mean is not None:
            marks.append(_Mark(p.arm, p.n_examples, p.heldout_mean, math.nan, math.nan))
    return marks


def scaling_curve(
    points: Sequence[Point],
    arms: Sequence[str],
    sizes: Sequence[int],
    path: Path,
    interval: str,
    judge_axis: str,
) -> bool:
    """Judge mean against the number of examples, every arm on one axis; a second panel for
    held-out loss when the trials have it. ``interval`` names the bars (goes in the title)."""
    judged, held = _judge_marks(points), _heldout_marks(points)
    if not judged:
        return False
    colours = arm_colours(arms)
    with _style():
        fig, axes = _figure(12.5 if held else 7.5, 4.8, 2 if held else 1)
        _curve(axes[0], judged, arms, colours)
        axes[0].set(title="Judge score", ylabel=judge_axis)
        if held:
            _curve(axes[1], held, arms, colours)
            bare = any(not math.isfinite(m.low) for m in held)
            axes[1].set(
                title="Held-out loss" + (" (some points without an interval)" if bare else ""),
                ylabel="held-out loss (nats per token)",
            )
        for ax in axes:
            _log2_axis(ax, sizes)
            ax.set_xlabel("training examples (log2 scale)")
        what = "Judge score and held-out loss" if held else "Judge score"
        fig.suptitle(f"{what} vs number of training examples\nbars: {interval}")
        handles, labels = axes[0].get_legend_handles_labels()
        # Below the panels: a long title and a legend at the top right would collide.
        fig.legend(handles, labels, title="arm", loc="outside lower center",
                   ncols=min(len(labels), 5))  # fmt: skip
        _save(fig, path)
    return True


def _comparison_label(c: Comparison) -> str:
    at = "all sizes" if c.n_examples is None else f"n={c.n_examples}"
    return f"{c.arm} - {c.baseline} @ {at}"


def differences(
    comparisons: Sequence[Comparison], arms: Sequence[str], path: Path, interval: str
) -> bool:
    """A forest plot: one row per comparison (first at the top), its difference and interval;
    filled markers where the declared rule found a difference, hollow where it did not."""
    if not comparisons:
        return False
    from matplotlib.lines import Line2D

    colours = arm_colours(arms)
    rows = list(reversed(comparisons))
    with _style():
        fig, (ax,) = _figure(8.5, max(2.8, 1.3 + 0.45 * len(rows)))
        ax.axvline(0.0, color="black", linewidth=1)
        for y, c in enumerate(rows):
            k, colour = c.contrast, colours.get(c.arm, "0.3")
            filled = c.verdict.kind == "difference"
            ax.errorbar(
                [k.estimate],
                [y],
                xerr=[[k.estimate - k.low], [k.high - k.estimate]],
                fmt="o",
                color=colour,
                markerfacecolor=colour if filled else "white",
                capsize=4,
                markersize=7,
                linewidth=1.8,
            )
        ax.set_yticks(range(len(rows)), labels=[_comparison_label(c) for c in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(False, axis="y")
        ax.set_xlabel("difference in mean judge score (points)")
        ax.set_title(f"Arm differences; bars: {interval}")
        # Holm decides on adjusted p: a hollow row may have an (unadjusted) interval off 0.
        holm = any(c.verdict.p_adjusted is not None for c in comparisons)
        found = "difference (declared rule" + (", Holm-adjusted p)" if holm else ")")
        keys = [
            Line2D([], [], marker="o", color="0.3", linestyle="", label=found),
            Line2D(
                [],
                [],
                marker="o",
                color="0.3",
                markerfacecolor="white",
                linestyle="",
                label="no detectable difference",
            ),
        ]
        fig.legend(handles=keys, loc="outside lower center", ncols=2, frameon=False)
        _save(fig, path)
    return True


def training_loss(
    curves: LossCurves, arms: Sequence[str], sizes: Sequence[int], path: Path
) -> bool:
    """Training loss against step, one line per trial: colour = arm, line style = size (the
    seeds of a cell share both, so their spread shows as a bundle). The legend lists arms and
    sizes, not trials, so it stays short however many seeds there are."""
    keys = sorted((k for k, v in curves.items() if v), key=lambda k: (str(k[0]), k[1], k[2]))
    if not keys:
        return False
    from matplotlib.lines import Line2D

    colours = arm_colours(list(arms) + sorted({k[0] for k in keys} - set(arms)))
    ordered = sorted(set(sizes) | {k[1] for k in keys})
    style = {n: _LINESTYLES[i % len(_LINESTYLES)] for i, n in enumerate(ordered)}
    with _style():
        fig, (ax,) = _figure(9.0, 4.8)
        for key in keys:
            steps, losses = zip(*curves[key], strict=True)
            ax.plot(
                steps,
                losses,
                color=colours[key[0]],
                linestyle=style[key[1]],
                linewidth=1.4,
                alpha=0.85,
            )
        shown_arms = [a for a in colours if any(k[0] == a for k in keys)]
        shown_sizes = [n for n in ordered if any(k[1] == n for k in keys)]
        handles = [Line2D([], [], color=colours[a], linewidth=2.5, label=a) for a in shown_arms]
        handles += [
            Line2D([], [], color="0.3", linestyle=style[n], linewidth=1.6, label=f"n={n}")
            for n in shown_sizes
        ]
        ax.set(xlabel="optimizer step", ylabel="training loss (nats per token)")
        ax.set_title("Training loss, one line per trial (colour: arm, style: size)")
        fig.legend(handles=handles, loc="outside right upper", title="arm / size")
        _save(fig, path)
    return True
