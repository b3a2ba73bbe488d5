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
is never negative. B is floored at the 5% point of its own distribution when seeds do not
matter (g_inv * noise * chi2(df_B) / df_B): a 2-df mean square of 2 seeds can fall far below
its model minimum g_inv * noise by chance and collapse the interval. V_cond = max(0,
var_p(l_p) / P - W2 noise), noise from the seeds x prompts residual mean square. The interval
is t with Satterthwaite df over these mean squares.

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

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, TypeVar

import numpy as np
from scipy import special

from ablate.stats import FloatArray, Interval, satterthwaite_df

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


Bounded = TypeVar("Bounded", Contrast, Interval)


def clipped(c: Bounded, low: float, high: float = math.inf) -> Bounded:
    """``c`` with its interval cut to [low, high], the values that exist: a t interval knows
    no bounds, so a win rate or an accuracy of 0.06 +- 0.13 reaches below 0, a difference of
    two win rates beyond 1, a mean count below 0 tokens. The cut interval holds the truth
    exactly when the t interval does (the truth lies inside the bounds), so coverage is
    unchanged. ``method`` says so ("; cut to [0, 1]", "; cut at 0") only when it cut; the
    estimate, se and p are the t interval's. An estimate outside the bounds means values of
    another kind than they assume (scores of another scale): nothing is cut then, so that
    the interval still holds its estimate."""
    cut_low, cut_high = c.low < low, c.high > high  # NaN bounds (no interval) stay
    if not (cut_low or cut_high) or not low <= c.estimate <= high:
        return c
    where = f"to [{low:g}, {high:g}]" if math.isfinite(high) else f"at {low:g}"
    return dataclasses.replace(c, low=low if cut_low else c.low, high=high if cut_high else c.high,
                               method=f"{c.method}; cut {where}")  # fmt: skip


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
    # A floor from the model (variances are >= 0): E[between] >= g_inv * noise, with noise
    # known to hundreds of df. A mean square of 2 df (2 seeds) can fall far below that by
    # chance and take the interval and its df down with it; a floored term is as well known as
    # the noise it stands on. The floor is the 5% point of B's distribution when seeds do not
    # matter, not its mean: flooring at the mean biased the variance up exactly there (a
    # difference over sizes, which rests on B alone, covered 0.972 at seed SD 0 and 3 seeds;
    # 0.951 with the 5% point; with 2 seeds and seed SD 0.05 the mean floor's jump to the
    # noise's df covered only 0.922, the 5% point 0.941; bench_statistics).
    within, within_df = sv.within, float(sv.df_within or sv.df_between)
    between, between_df = _floored(sv.between, float(sv.df_between), sv, sv.g_inv)
    cells = [(q * between, between_df), ((w2 - q * sv.g_inv) * within, within_df)]
    noise = w2 * sv.noise
    cond = [(v_prompt, n_prompts - 1.0), (-noise, float(sv.df_noise))]
    if v_prompt - noise <= 0:
        cond = []  # clipped: prompts x condition estimated 0
    v_cond, v_cells = sum(v for v, _ in cond), sum(v for v, _ in cells)
    cond_df = satterthwaite_df(cond) if cond else math.nan
    parts = VarianceParts(v_cond, cond_df, v_cells, satterthwaite_df(cells), noise)
    return parts, cond + cells


FLOOR_QUANTILE = 0.05  # of a between-seed mean square's null distribution (_variance_parts)


def _floored(ms: float, df: float, sv: SeedVariance, scale: float = 1.0) -> tuple[float, float]:
    """A mean square of df degrees of freedom whose null expectation is scale * noise, no lower
    than the FLOOR_QUANTILE point of scale * noise * chi2(df) / df (see _variance_parts)."""
    floor = scale * sv.noise * float(special.chdtri(df, 1 - FLOOR_QUANTILE)) / df
    return (ms, df) if ms >= floor else (floor, float(sv.df_noise))


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
