"""Verdicts in words from contrasts, by rules declared before the data (CONTRIBUTING.md,
principle 13): comparisons (Holm-adjusted when several), and slope verdicts (rising / falling /
plateau only inside an equivalence margin / inconclusive with the seeds or prompts that would
settle it)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ablate.analysis.contrasts import (
    MIN_SEEDS,
    Cell,
    Contrast,
    SweepMeans,
    _as_sweep,
    _t_quantile,
    arm_difference,
)
from ablate.stats import holm, satterthwaite_df

# --- Verdicts: rules declared before the data (CONTRIBUTING.md, principle 13) ------------


@dataclass(frozen=True)
class Verdict:
    """A verdict in words and the contrast behind it.

    kind: "difference" / "no difference" for comparisons; "rising" / "falling" / "plateau" /
    "inconclusive" for slopes. ``label`` names the arms ("lima beats dolly")."""

    kind: str
    label: str
    text: str
    contrast: Contrast
    p_adjusted: float | None = None
    # Totals per cell / in all that the projection asks for when inconclusive (_needs); with
    # one seed per cell seeds_needed is MIN_SEEDS, the least that measures training randomness.
    seeds_needed: int | None = None
    prompts_needed: int | None = None


def _fmt(c: Contrast) -> str:
    return f"{c.estimate:+.3f} ({c.confidence:.0%} interval {c.low:+.3f} to {c.high:+.3f})"


def _seed_advice(c: Contrast) -> str:
    """With one seed the seed SD has 0 df. Rule: at least 3 seeds per cell, so that each
    (arm, size) group alone gives 2 seed df and a sweep of G groups pools 2G (the t quantile
    at 2 df is 4.3, at 8 df 2.3, so 2 seeds per cell give too few)."""
    if c.seed_variance_measured:
        return ""
    return (
        f"; training randomness is not measured (1 seed per cell): the interval covers prompt "
        f"sampling only; run at least {MIN_SEEDS} seeds per cell to estimate it"
    )


def comparison_verdict(
    c: Contrast, arm_a: str, arm_b: str, p_adjusted: float | None = None, n_tests: int = 1
) -> Verdict:
    """Verdict on arm a minus arm b: "A beats B" / "B beats A" when the (Holm-adjusted) p is
    below 1 - confidence, else "no detectable difference"; the interval shown is unadjusted."""
    p = c.p_value if p_adjusted is None else p_adjusted
    alpha = round(1 - c.confidence, 12)  # 1 - 0.95 is 0.050000000000000044 in floats
    holm_note = f", Holm-adjusted over {n_tests} comparisons" if n_tests > 1 else ""
    stat = f"{arm_a} - {arm_b} = {_fmt(c)}; p = {p:.3g}{holm_note}"
    if p < alpha and c.estimate != 0:
        winner, loser = (arm_a, arm_b) if c.estimate > 0 else (arm_b, arm_a)
        label = f"{winner} beats {loser}"
        return Verdict("difference", label, f"{label}: {stat}{_seed_advice(c)}", c, p_adjusted)
    label = "no detectable difference"
    return Verdict("no difference", label, f"{label}: {stat}{_seed_advice(c)}", c, p_adjusted)


MOSTLY_LENGTH = "mostly length"


def length_flag(
    verdict: Verdict, adjusted: Contrast, p_length: float, arm_a: str, arm_b: str
) -> str | None:
    """Rules declared before the data, on arm a minus arm b and its length-adjusted version
    (``p_length``: its p, Holm-adjusted like the verdict's when there are more than two arms):

    - "mostly length": the verdict is a difference ("A beats B") and p_length is not below
      1 - confidence (with two arms: the raw interval excludes 0, the adjusted one holds it);
    - "<winner> beats <loser> after length adjustment": p_length is below 1 - confidence and
      the verdict says no difference, or the other arm wins (length hid or reversed it);
    - None otherwise (the adjustment does not change the verdict)."""
    alpha = round(1 - verdict.contrast.confidence, 12)
    if p_length >= alpha or adjusted.estimate == 0:
        return MOSTLY_LENGTH if verdict.kind == "difference" else None
    winner, loser = (arm_a, arm_b) if adjusted.estimate > 0 else (arm_b, arm_a)
    if verdict.kind == "difference" and verdict.label == f"{winner} beats {loser}":
        return None
    return f"{winner} beats {loser} after length adjustment"


def compare_arms(
    cells: SweepMeans | Sequence[Cell],
    arms: Sequence[str] | None = None,
    n_examples: int | None = None,
    reference: str | None = None,
    confidence: float = 0.95,
) -> list[Verdict]:
    """Every pair of ``arms`` (default: all in the sweep, in order of first appearance), or
    each against ``reference``, at one size or pooled over sizes; Holm-adjusted over the
    comparisons made (no change when there is only one)."""
    sweep = _as_sweep(cells)
    names = list(arms) if arms is not None else list(dict.fromkeys(k[0] for k in sweep.keys))
    if reference is not None:
        pairs = [(a, reference) for a in names if a != reference]
    else:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    contrasts = [arm_difference(sweep, a, b, n_examples, confidence) for a, b in pairs]
    adjusted = holm([c.p_value for c in contrasts])
    return [
        comparison_verdict(c, a, b, p, len(pairs))
        for (a, b), c, p in zip(pairs, contrasts, adjusted, strict=True)
    ]


def _projected_half_width(c: Contrast, seeds: int, prompts: int) -> float:
    """Expected interval half-width with ``seeds`` per cell and ``prompts`` prompts, from the
    current variance parts.

    Every weight w_c scales as 1/S, so W2 and Q, and with them V_cells, scale by S/S'; of
    V_cells, the prompt noise W2 * noise also scales as P/P', the seed part does not. V_cond
    scales as P/P'. Each part keeps its Satterthwaite df, grown as S' - 1 or P' - 1, so at the
    current S and P this is the current half-width."""
    p = c.parts
    shrink_p = c.n_prompts / prompts
    cells = c.n_seeds / seeds * max(0.0, p.cells - p.noise * (1 - shrink_p))
    terms = [(p.cond * shrink_p, p.cond_df * (prompts - 1) / (c.n_prompts - 1))]
    if cells > 0:
        grow = (seeds - 1) / (c.n_seeds - 1) if c.n_seeds > 1 else 1.0
        terms.append((cells, p.cells_df * grow))
    v = sum(v for v, _ in terms)
    return _t_quantile(c.confidence, satterthwaite_df(terms)) * math.sqrt(v)


def _smallest(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """Smallest n in [low, high] with fits(n), for fits monotone in n; None if even high fails."""
    if not fits(high):
        return None
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return low


def _needs(c: Contrast, margin: float) -> tuple[int | None, int | None]:
    """(seeds per cell, prompts) that would make the projected half-width fit inside the
    margin around the current estimate (half-width <= margin - |estimate|), each lever alone;
    None where that lever cannot reach it (or no projection applies)."""
    room = margin - abs(c.estimate)
    if room <= 0:
        return None, None
    seeds = None
    if c.seed_variance_measured:
        seeds = _smallest(
            lambda s: _projected_half_width(c, s, c.n_prompts) <= room, c.n_seeds, 100_000
        )
    prompts = _smallest(
        lambda p: _projected_half_width(c, c.n_seeds, p) <= room, c.n_prompts, 100_000_000
    )
    return seeds, prompts


def _more(needed: int | None, have: int, what: str) -> str | None:
    if needed is None:
        return None
    return f"about {needed - have} more {what} ({needed} in all)"


def _inconclusive_text(c: Contrast, margin: float, seeds: int | None, prompts: int | None) -> str:
    head = (
        f"inconclusive: the interval [{c.low:+.3f}, {c.high:+.3f}] points per doubling is too "
        f"wide for the +-{margin:g} plateau margin"
    )
    if abs(c.estimate) >= margin:
        return f"{head}, and the estimate {c.estimate:+.3f} itself lies outside it"
    levers = [
        x
        for x in (_more(seeds, c.n_seeds, "seeds per cell"), _more(prompts, c.n_prompts, "prompts"))
        if x is not None
    ]
    if not levers:
        return f"{head}; neither more seeds nor more prompts alone would be enough"
    alone = "" if len(levers) == 2 or not c.seed_variance_measured else (
        "; more prompts alone would not be enough (training randomness dominates)"
        if seeds is not None
        else "; more seeds alone would not be enough (the prompt part dominates)"
    )  # fmt: skip
    return (
        f"{head}; {' or '.join(levers)} would be needed (projected from the current variance "
        f"components){alone}"
    )


def slope_verdict(c: Contrast, margin: float = 0.1) -> Verdict:
    """Rules for a slope in points per doubling, fixed before the data:

    - "rising" / "falling": the interval excludes 0;
    - "plateau": the interval contains 0 AND lies inside [-margin, +margin] (an equivalence
      test; overlapping error bars never make a plateau);
    - otherwise "inconclusive", with the seeds per cell or prompts that would make the
      expected half-width fit the margin around the current estimate (_needs).
    """
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    stat = f"slope {_fmt(c)} points per doubling"
    seeds = prompts = None
    if c.low > 0 or c.high < 0:
        kind = "rising" if c.low > 0 else "falling"
        text = f"{kind}: {stat}"
    elif -margin <= c.low and c.high <= margin:
        kind, text = "plateau", f"plateau: {stat}, inside the +-{margin:g} margin"
    else:
        kind = "inconclusive"
        seeds, prompts = _needs(c, margin)
        text = _inconclusive_text(c, margin, seeds, prompts)
    if not c.seed_variance_measured:
        seeds = MIN_SEEDS
    return Verdict(kind, kind, text + _seed_advice(c), c, None, seeds, prompts)
