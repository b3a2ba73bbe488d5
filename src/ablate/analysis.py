"""Comparisons, scaling fits and verdicts for a sweep of trained models (pure functions).

A sweep is a set of cells, one trained model per (arm, n_examples, seed), each judged on the
same P evaluation prompts with K sampled responses per prompt. Two sources of randomness lie
between a data condition and a cell's mean score, and every interval here includes both:

- prompts: the P prompts are a sample. All cells share them, so a contrast taken prompt by
  prompt cancels each prompt's difficulty (pairing).
- training seeds: each cell is one draw of the training randomness (initialisation, data
  order, the nested subset). It shifts the cell's whole mean by a seed effect u_c that no
  number of prompts averages out.

Model: X_c[p], the mean of cell c's scored responses to prompt p, is
m_g + a_gp + u_c + r_cp: g the cell's (arm, size) group, a_gp the prompt effect, u_c the seed
effect, r_cp seed x prompt and response noise. Nested subsets make one seed's cells at
different sizes share data, so u_c = s_(arm, seed) + f_c: a part shared by the seed's sizes
(variance sigma_s^2) and a part of the cell's own (sigma_f^2). Every estimate is a linear
contrast L = sum_c w_c * mean_p X_c[p] over the prompts scored in every involved cell, with
l_p = sum_c w_c X_c[p], W2 = sum_c w_c^2 and Q = sum over (arm, seed) of (sum of that seed's
weights)^2. Its variance has two parts:

    V_cells = Q sigma_s^2 + W2 (sigma_f^2 + noise)   seeds, and the prompt noise r of a cell
                                                     mean (noise = var(r) / P)
    V_cond  = var_p(sum_c w_c a_gp) / P              prompts x condition (for a group mean:
                                                     the prompt effects themselves)

A slope's weights cancel within a seed (Q = 0), so the shared part drops out; a difference at
one size has Q = W2. V_cells comes from a split-plot ANOVA of each arm's sizes x seeds table of
cell means: between seeds B (df S - 1, E = sigma_s^2 + tau^2 / G) and size x seed W (df
(G - 1)(S - 1), E = tau^2 = sigma_f^2 + noise), so V_cells = Q B + (W2 - Q / G) W, pooled over
arms (the declared assumption: one set of seed variances for the sweep: 16 seed df in a 2-arm,
4-size, 3-seed sweep instead of 2 per cell). Both coefficients are >= 0 (Cauchy-Schwarz), so it
is never negative. V_cond = max(0, var_p(l_p) / P - W2 noise), noise from the seeds x prompts
residual mean square. The interval is t with Satterthwaite df over these mean squares.

Why not "prompt-only variance + a clipped seed variance": that seed part is a difference of
mean squares with ~16 df, and clipping it at 0 biases V up exactly when seeds barely matter
(simulated coverage 0.964-0.968 at seed SD 0, against 0.952-0.955 here); the difference taken
here is the prompt x condition one, whose mean squares have ~P df, so its clipping costs
little. An interval can come out narrower than the prompt-only one when the seeds happen to
agree; it is still the right one (the prompt-only one ignores seeds). With one seed per cell
nothing about seeds is measured: the interval is the prompt-only one and says so.
benchmarks/bench_statistics.py checks coverage with independent and correlated seed effects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from ablate.stats import FloatArray, Interval, ScoreSummary, holm, satterthwaite_df

CellKey = tuple[str, int, int]  # (arm, n_examples, seed)
T = TypeVar("T")
MIN_SEEDS = 3  # seeds per cell to recommend when only one was run (see _seed_advice)


@dataclass(frozen=True)
class Cell:
    """One trained model and its judge scores: prompt id -> sample scores (None = unscored)."""

    arm: str
    n_examples: int
    seed: int
    scores: Mapping[str, Sequence[float | None]]


@dataclass(frozen=True, eq=False)
class SweepMeans:
    """A sweep as a matrix: one row per cell, one column per prompt, the mean of the cell's
    scored responses to that prompt (NaN when it has none)."""

    keys: tuple[CellKey, ...]
    prompt_ids: tuple[str, ...]
    means: FloatArray

    def rows(self, arm: str | None = None, n_examples: int | None = None) -> list[int]:
        return [
            i
            for i, (a, n, _) in enumerate(self.keys)
            if (arm is None or a == arm) and (n_examples is None or n == n_examples)
        ]

    @cached_property
    def seed_variance(self) -> SeedVariance:
        """Pooled over all (arm, size) groups; computed once per sweep."""
        return seed_variance(self.means, self.keys)


@dataclass(frozen=True)
class SeedVariance:
    """Pooled split-plot mean squares of cell means, in score units squared (module docstring).

    ``between``: sum over arms of f_a * MS_seeds,a / G_a (f_a = the arm's share of the seed df),
    E = sigma_s^2 + g_inv * tau^2. ``within``: pooled size x seed MS, E = tau^2 = sigma_f^2 +
    noise. ``noise``: pooled seeds x prompts residual MS / P, the prompt noise in a cell mean.
    With equal sizes per arm g_inv = 1/G exactly; otherwise it is the df-weighted mean of 1/G_a
    (exact when the arms' within mean squares agree)."""

    between: float
    df_between: int
    within: float  # = between when no arm has 2 sizes (then nothing is shared, by assumption)
    df_within: int
    g_inv: float
    noise: float
    df_noise: int

    @property
    def df(self) -> int:
        return self.df_between + self.df_within

    @property
    def cell_var(self) -> float:
        """Seed variance of one cell's mean, sigma_s^2 + sigma_f^2 = B + (1 - g_inv) W - noise
        (clipped at 0)."""
        return max(0.0, self.between + (1 - self.g_inv) * self.within - self.noise)


NO_SEEDS = SeedVariance(math.nan, 0, math.nan, 0, math.nan, math.nan, 0)


def _arm_table(means: FloatArray, keys: Sequence[CellKey], arm: str) -> FloatArray | None:
    """(sizes, seeds, prompts) prompt means of the arm's seeds present at all its sizes, on the
    prompts scored in all those cells; None with < 2 such seeds or < 2 prompts."""
    sizes = sorted({n for a, n, _ in keys if a == arm})
    seeds = sorted(set.intersection(*({s for a, m, s in keys if a == arm and m == n}
                                      for n in sizes)))  # fmt: skip
    if len(seeds) < 2:
        return None
    row = {k: i for i, k in enumerate(keys)}
    y = np.array([[means[row[(arm, n, s)]] for s in seeds] for n in sizes])
    y = y[:, :, np.isfinite(y).all(axis=(0, 1))]
    return y if y.shape[2] >= 2 else None


class _ArmSquares(NamedTuple):
    ms_seed: float  # between seeds, of cell means (E = G sigma_s^2 + tau^2)
    ms_inter: float  # size x seed (E = tau^2); nan with one size
    noise: float  # seeds x prompts residual MS / P: the prompt noise in a cell mean
    df_seed: int
    df_inter: int
    df_noise: int
    sizes: int


def _split_plot(y: FloatArray) -> _ArmSquares:
    """Mean squares of one arm's (sizes, seeds, prompts) table."""
    g, s, p = y.shape
    cell = y.mean(axis=2)
    col, row, grand = cell.mean(axis=0), cell.mean(axis=1), float(cell.mean())
    ms_seed = g * float(((col - grand) ** 2).sum()) / (s - 1)
    inter = cell - row[:, None] - col[None, :] + grand
    df_inter = (g - 1) * (s - 1)
    ms_inter = float((inter**2).sum()) / df_inter if df_inter else math.nan
    # Per size, the seeds x prompts residual: y - seed mean - prompt mean + size mean.
    resid = y - cell[:, :, None] - y.mean(axis=1, keepdims=True) + row[:, None, None]
    df_noise = g * (s - 1) * (p - 1)
    noise = float((resid**2).sum()) / df_noise / p
    return _ArmSquares(ms_seed, ms_inter, noise, s - 1, df_inter, df_noise, g)


def seed_variance(means: FloatArray, keys: Sequence[CellKey]) -> SeedVariance:
    """Split-plot mean squares pooled over the arms of ``keys`` (rows of ``means``), each
    weighted by its share of the df.

    Each arm's table holds its seeds present at every size of the arm (a seed missing one
    size is left out of the estimate, not of the contrasts). Arms with fewer than 2 such
    seeds add nothing; with none left the result has df 0 (not measured)."""
    arms = [_arm_table(means, keys, arm) for arm in dict.fromkeys(a for a, _, _ in keys)]
    parts = [_split_plot(y) for y in arms if y is not None]
    d_b = sum(x.df_seed for x in parts)
    if d_b == 0:
        return NO_SEEDS
    d_w, d_n = sum(x.df_inter for x in parts), sum(x.df_noise for x in parts)
    between = sum(x.df_seed / d_b * x.ms_seed / x.sizes for x in parts)
    g_inv = sum(x.df_seed / d_b / x.sizes for x in parts)
    within = sum(x.df_inter / d_w * x.ms_inter for x in parts if x.df_inter) if d_w else between
    noise = sum(x.df_noise / d_n * x.noise for x in parts)
    return SeedVariance(between, d_b, within, d_w, g_inv, noise, d_n)


@dataclass(frozen=True)
class Contrast:
    """A linear contrast of cell means with its t interval; see the module docstring."""

    estimate: float
    low: float
    high: float
    se: float
    df: float
    p_value: float  # two-sided, H0: the contrast is 0
    n_prompts: int  # prompts scored in every involved cell
    n_seeds: int  # fewest seeds among the involved (arm, size) groups
    seed_sd: float | None  # estimated seed SD of a cell mean; None when not measurable
    seed_variance_measured: bool
    method: str
    confidence: float
    prompt_var: float  # var_p(l_p) / P: the variance of a prompt-only interval
    seed_var: float  # the training-seed part of se^2 (clipped at 0; 0 when not measured)
    seed_df: int  # df of the seed mean squares (0: not measured)
    parts: VarianceParts


@dataclass(frozen=True)
class VarianceParts:
    """se^2 = cond + cells (module docstring), each with its own Satterthwaite df, and the
    prompt noise W2 * noise inside cells; what _projected_half_width scales."""

    cond: float
    cond_df: float
    cells: float
    cells_df: float
    noise: float


def sweep_means(cells: Sequence[Cell]) -> SweepMeans:
    """The prompt-mean matrix of ``cells`` over the union of their prompt ids (sorted)."""
    keys = [(c.arm, c.n_examples, c.seed) for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError("two cells share one (arm, n_examples, seed)")
    ids = sorted({p for c in cells for p in c.scores})
    column = {p: j for j, p in enumerate(ids)}
    means = np.full((len(cells), len(ids)), np.nan)
    for i, cell in enumerate(cells):
        for pid, samples in cell.scores.items():
            values = np.array([np.nan if s is None else s for s in samples], dtype=float)
            if np.isinf(values).any():
                raise ValueError(f"cell {keys[i]} prompt {pid}: scores must be finite or None")
            if (~np.isnan(values)).any():
                means[i, column[pid]] = float(np.nanmean(values))
    return SweepMeans(tuple(keys), tuple(ids), means)


def _as_sweep(cells: SweepMeans | Sequence[Cell]) -> SweepMeans:
    return cells if isinstance(cells, SweepMeans) else sweep_means(cells)


def _t_quantile(confidence: float, df: float) -> float:
    """Two-sided t quantile; scipy.special directly, as stats.t costs ~0.3 ms a call."""
    return float(special.stdtrit(df, (1 + confidence) / 2))


def _t_interval(estimate: float, var: float, df: float, confidence: float) -> tuple[float, ...]:
    """(low, high, se, p) of a t interval; a zero variance gives a point and p 0 or 1."""
    se = math.sqrt(var)
    if se == 0:
        return estimate, estimate, 0.0, 1.0 if estimate == 0 else 0.0
    half = se * _t_quantile(confidence, df)
    p = 2 * float(special.stdtr(df, -abs(estimate) / se))
    return estimate - half, estimate + half, se, p


def _method(measured: bool, seed_var: float, seed_df: int) -> str:
    if not measured:
        return "t over prompts only: one seed per cell, training randomness not measured"
    zero = "; seed variance estimated 0" if seed_var == 0 else ""
    return f"t over prompts + seeds (split-plot, {seed_df} seed df, Satterthwaite){zero}"


def _variance_parts(
    v_prompt: float, n_prompts: int, sv: SeedVariance, w2: float, q: float
) -> tuple[VarianceParts, list[tuple[float, float]]]:
    """V_cond and V_cells (module docstring) and the mean-square terms for the interval's df."""
    if sv.df == 0:
        return VarianceParts(v_prompt, n_prompts - 1.0, 0.0, math.nan, 0.0), [
            (v_prompt, n_prompts - 1.0)
        ]
    cells = [(q * sv.between, float(sv.df_between)),
             ((w2 - q * sv.g_inv) * sv.within, float(sv.df_within or sv.df_between))]  # fmt: skip
    noise = w2 * sv.noise
    cond = [(v_prompt, n_prompts - 1.0), (-noise, float(sv.df_noise))]
    if v_prompt - noise <= 0:
        cond = []  # clipped: prompts x condition estimated 0
    v_cond, v_cells = sum(v for v, _ in cond), sum(v for v, _ in cells)
    cond_df = satterthwaite_df(cond) if cond else math.nan
    parts = VarianceParts(v_cond, cond_df, v_cells, satterthwaite_df(cells), noise)
    return parts, cond + cells


def _seed_sums(w: FloatArray, keys: Sequence[CellKey]) -> tuple[float, int]:
    """Q = sum over (arm, seed) of (sum of its weights)^2, and the fewest seeds in an involved
    (arm, size) group."""
    by_seed: dict[tuple[str, int], float] = {}
    by_group: dict[tuple[str, int], int] = {}
    for weight, (arm, n, seed) in zip(w, keys, strict=True):
        by_group[(arm, n)] = by_group.get((arm, n), 0) + 1
        by_seed[(arm, seed)] = by_seed.get((arm, seed), 0.0) + float(weight)
    involved = {(a, n) for weight, (a, n, _) in zip(w, keys, strict=True) if weight != 0}
    return sum(v * v for v in by_seed.values()), min(by_group[g] for g in involved)


def _prompt_part(means: FloatArray, w: FloatArray) -> tuple[float, float, int]:
    """Estimate, V_prompt = var_p(l_p) / P, and P over the prompts scored in every cell with a
    non-zero weight."""
    used = np.flatnonzero(w)
    if used.size == 0:
        raise ValueError("every weight is 0: no contrast")
    x = means[used]
    x = x[:, np.isfinite(x).all(axis=0)]
    n_prompts = x.shape[1]
    if n_prompts < 2:
        raise ValueError(f"need 2 prompts scored in every involved cell, got {n_prompts}")
    per_prompt = w[used] @ x
    return float(per_prompt.mean()), float(per_prompt.var(ddof=1)) / n_prompts, n_prompts


def linear_contrast(
    means: FloatArray,
    weights: Sequence[float] | FloatArray,
    keys: Sequence[CellKey],
    confidence: float = 0.95,
    seed_var: SeedVariance | None = None,
) -> Contrast:
    """L = sum_c w_c * mean_p X_c[p] over rows c of ``means`` (cells ``keys``), with se^2 =
    V_cond + V_cells and a Satterthwaite t interval (module docstring). Rows of weight 0 only
    help estimate the seed variances (``seed_var``: that estimate, already made from these)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    w = np.asarray(weights, dtype=float)
    estimate, v_prompt, n_prompts = _prompt_part(means, w)
    q, n_seeds = _seed_sums(w, keys)
    sv = seed_variance(means, keys) if seed_var is None else seed_var
    parts, terms = _variance_parts(v_prompt, n_prompts, sv, float((w**2).sum()), q)
    measured = sv.df > 0
    df = satterthwaite_df(terms) if parts.cond + parts.cells > 0 else n_prompts - 1.0
    low, high, se, p = _t_interval(estimate, parts.cond + parts.cells, df, confidence)
    v_seed = max(0.0, parts.cells - parts.noise) if measured else 0.0
    return Contrast(
        estimate, low, high, se, df, p, n_prompts, n_seeds,
        math.sqrt(sv.cell_var) if measured else None, measured,
        _method(measured, v_seed, sv.df), confidence, v_prompt, v_seed, sv.df, parts,
    )  # fmt: skip


def _group_weights(sweep: SweepMeans, arm: str, n_examples: int, sign: float) -> FloatArray:
    """sign / S on the S seeds of one (arm, size), 0 elsewhere: the group's mean over seeds."""
    rows = sweep.rows(arm, n_examples)
    if not rows:
        raise ValueError(f"no cell for arm {arm!r} at n_examples={n_examples}")
    w = np.zeros(len(sweep.keys))
    w[rows] = sign / len(rows)
    return w


def _only(values: set[T], what: str) -> T:
    if len(values) != 1:
        raise ValueError(f"cells span several {what} ({sorted(map(str, values))}); name one")
    return next(iter(values))


def cell_group_mean(
    cells: SweepMeans | Sequence[Cell],
    arm: str | None = None,
    n_examples: int | None = None,
    confidence: float = 0.95,
) -> Contrast:
    """Mean score of one (arm, size) over its seeds (a curve point), mean of prompt means.

    V_cond here is the prompts' own spread (nothing is paired away) and V_cells the seeds'
    scatter / S; not the average of per-seed bounds, which would ignore that seeds scatter.
    ``arm`` / ``n_examples`` may be left out when the cells hold only one; the seed variances
    are pooled over every arm in ``cells`` (pass the whole sweep for more seed df)."""
    sweep = _as_sweep(cells)
    a = arm if arm is not None else _only({k[0] for k in sweep.keys}, "arms")
    n = n_examples if n_examples is not None else _only({k[1] for k in sweep.keys}, "sizes")
    w = _group_weights(sweep, str(a), int(n), 1.0)
    return linear_contrast(sweep.means, w, sweep.keys, confidence, sweep.seed_variance)


def _sizes(sweep: SweepMeans, arm: str) -> set[int]:
    return {n for a, n, _ in sweep.keys if a == arm}


def arm_difference(
    cells: SweepMeans | Sequence[Cell],
    arm_a: str,
    arm_b: str,
    n_examples: int | None = None,
    confidence: float = 0.95,
) -> Contrast:
    """Mean score of arm a minus arm b at one size (all seeds of each), paired by prompt.

    With ``n_examples`` None: the mean over the sizes both arms have of the per-size
    differences. A seed's effects at different sizes (nested subsets) add up rather than
    average out there; V_seed counts that through Q (module docstring)."""
    sweep = _as_sweep(cells)
    sizes = [n_examples] if n_examples is not None else sorted(
        _sizes(sweep, arm_a) & _sizes(sweep, arm_b)
    )  # fmt: skip
    if not sizes:
        raise ValueError(f"arms {arm_a!r} and {arm_b!r} share no size")
    w = np.zeros(len(sweep.keys))
    for n in sizes:
        w += _group_weights(sweep, arm_a, n, 1.0 / len(sizes))
        w += _group_weights(sweep, arm_b, n, -1.0 / len(sizes))
    return linear_contrast(sweep.means, w, sweep.keys, confidence, sweep.seed_variance)


def scaling_slope(
    cells: SweepMeans | Sequence[Cell], arm: str, confidence: float = 0.95
) -> Contrast:
    """Slope b of score = a + b * log2(n_examples) over one arm's cells: points per doubling.

    Least squares over cells (each cell one point), so w_c = (x_c - x_bar) / sum (x - x_bar)^2
    with x = log2(n): a linear contrast like any other. With the same seeds at every size the
    weights of one seed sum to 0 (Q = 0), so the part of a seed's effect that its sizes share
    (nested subsets) cancels, and only the size x seed mean square enters V_cells."""
    sweep = _as_sweep(cells)
    rows = sweep.rows(arm)
    x = np.log2([float(sweep.keys[i][1]) for i in rows])
    if x.size == 0 or np.ptp(x) == 0:
        raise ValueError(f"arm {arm!r} needs cells at 2 or more sizes for a slope")
    w = np.zeros(len(sweep.keys))
    w[rows] = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    return linear_contrast(sweep.means, w, sweep.keys, confidence, sweep.seed_variance)


# --- Verdicts: rules declared before the data (DESIGN principle 13) --------------------------


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


# --- Power law and the unscored check --------------------------------------------------------


@dataclass(frozen=True)
class PowerLaw:
    """value = prefactor * n ** (-exponent), fitted by least squares on log value vs log n."""

    prefactor: float
    exponent: float
    low: float  # interval of the exponent; nan when the fit has no residual df
    high: float
    se: float
    df: int
    n_sizes: int
    n_cells: int
    lack_of_fit_p: float | None  # F test of the power law; None without seeds at 3+ sizes
    method: str
    confidence: float


def _lack_of_fit_p(x: FloatArray, y: FloatArray, resid: FloatArray) -> float | None:
    """F test of lack of fit: residual SS split into pure error (seeds around their size's
    mean, df C - G) and the rest (means around the line, df G - 2)."""
    sizes = np.unique(x)
    pure = sum(float(((y[x == s] - y[x == s].mean()) ** 2).sum()) for s in sizes)
    df_pure, df_lof = x.size - sizes.size, sizes.size - 2
    if df_pure == 0 or df_lof == 0 or pure == 0:
        return None
    f = ((float((resid**2).sum()) - pure) / df_lof) / (pure / df_pure)
    return float(stats.f.sf(f, df_lof, df_pure))


def power_law_fit(n_values: ArrayLike, values: ArrayLike, confidence: float = 0.95) -> PowerLaw:
    """Power law through one value per cell (several seeds per size allowed), e.g. held-out
    loss (exponent > 0) or an objective task accuracy (arXiv 2410.03717: P ~ D^(1/b), so
    exponent = -1/b < 0).

    The t interval of the exponent uses the residuals of the log-log line (df = cells - 2):
    each cell is one trained model, so with several seeds per size the residuals carry the
    seed-to-seed scatter. With 2 sizes and 1 seed each the line is exact: no interval. With 2
    sizes and seeds the interval comes from the seeds alone. With 3+ sizes and 1 seed the
    residuals mix seeds and departures from a power law (not separable); with seeds too,
    ``lack_of_fit_p`` tests the power law itself."""
    n, v = np.asarray(n_values, float), np.asarray(values, float)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    finite = np.isfinite(n).all() and np.isfinite(v).all()
    if n.shape != v.shape or n.ndim != 1 or not (finite and (n > 0).all() and (v > 0).all()):
        raise ValueError("need as many n_values as values, all finite and positive")
    x = np.log(n)
    if np.unique(x).size < 2:
        raise ValueError("a power law needs values at 2 or more sizes")
    y = np.log(v)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum()) / sxx
    intercept = float(y.mean()) - slope * float(x.mean())
    resid, df, n_sizes = y - intercept - slope * x, x.size - 2, int(np.unique(x).size)
    common = (math.exp(intercept), -slope)
    if df == 0:
        method = "2 cells: the line is exact; no interval (run several seeds per size for one)"
        return PowerLaw(*common, math.nan, math.nan, math.nan, 0, 2, 2, None, method, confidence)
    se = math.sqrt(float((resid**2).sum()) / df / sxx)
    half = se * float(stats.t.ppf((1 + confidence) / 2, df))
    if x.size == n_sizes:
        seeds = "seeds and power-law misfit, not separable with 1 seed per size"
    else:
        seeds = "seed scatter" + (" and power-law misfit" if n_sizes > 2 else "")
    method = f"log-log least squares, t interval ({df} df) from residuals: {seeds}"
    return PowerLaw(
        *common, -slope - half, -slope + half, se, df, n_sizes, int(x.size),
        _lack_of_fit_p(x, y, resid), method, confidence,
    )  # fmt: skip


@dataclass(frozen=True)
class UnscoredCheck:
    """Whether unscored responses look not missing at random in one trial."""

    pooled_mean: float
    prompt_mean: float
    half_width: float
    flagged: bool
    text: str


def unscored_check(pooled: Interval, prompt_mean: float) -> UnscoredCheck:
    """Flag when the pooled mean (over scored responses) and the mean of prompt means differ by
    more than half the pooled interval's width.

    The two agree when responses go unscored at random; the pooled mean weighs a prompt by its
    scored responses, so unscored replies that cluster on some prompts (hard ones, long ones)
    pull the two apart. Half the width is the declared rule: a shift that large moves the
    reported interval by half of itself."""
    half = (pooled.high - pooled.low) / 2
    gap = abs(pooled.estimate - prompt_mean)
    if not math.isfinite(half) or not math.isfinite(gap):
        text = "not checked: no interval for the pooled mean"
        return UnscoredCheck(pooled.estimate, prompt_mean, half, False, text)
    flagged = gap > half
    text = (
        f"the pooled mean {pooled.estimate:.3f} and the mean of prompt means {prompt_mean:.3f} "
        f"differ by {gap:.3f}, {'more' if flagged else 'less'} than half the interval width "
        f"({half:.3f})"
    )
    if flagged:
        text = f"unscored responses may not be missing at random: {text}"
    return UnscoredCheck(pooled.estimate, prompt_mean, half, flagged, text)


def unscored_check_of(summary: ScoreSummary) -> UnscoredCheck:
    """``unscored_check`` on a trial's ScoreSummary (pooled interval, t interval's estimate)."""
    return unscored_check(summary.mean, summary.t_interval.estimate)
