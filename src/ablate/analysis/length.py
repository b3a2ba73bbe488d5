"""Length-controlled judge scores (pure functions).

Judges prefer longer answers (AlpacaEval's length-controlled win rate exists because of it), so
an arm that only learned to write longer can look better. Model, for sample k of cell c (arm,
size, seed) on prompt p, of length L_cpk tokens:

    score_cpk = m_g + a_gp + u_c + r_cp + gamma * L_cpk + e_cpk

(the terms of ablate.analysis.contrasts, plus one length slope gamma, judge points per token,
for the whole sweep). The length-adjusted difference of arm a and arm b is the usual paired
difference D minus gamma times their mean length difference dL: what D would be if both arms
wrote equally long answers.

Which variation estimates gamma. Not the differences between arms: a real quality effect that
comes with longer answers would be taken for length and removed. Not the cells' deviations from
their prompt means (prompt effects alone): they hold the arm effect too. Not even the cell x
prompt interaction (cell and prompt effects): it holds each arm's prompt-specific quality, so an
arm that writes longer and better on the same prompts would lose its quality there (73% of a
planted +0.3 in simulation, with a judge indifferent to length). gamma is
estimated within one trial and one prompt, between that trial's K samples:

    gamma_hat = sum dX dL / sum dL^2,   d = deviation from the (cell, prompt) mean

over the samples both scored and measured. Everything that differs between arms, sizes, seeds
and prompts (mean quality, quality on particular prompts, a prompt's difficulty, which may come
with its typical length) is constant within a (cell, prompt) and drops out. The declared
assumptions: (1) the judge rewards a token the same whether a response is longer by sampling
chance or because its arm writes longer (one linear slope); (2) within one model and prompt, a
sample's length is unrelated to its quality except through the judge. When (2) fails because
longer samples are also more complete, gamma_hat overstates the judge's preference and the
adjustment removes some real quality; when long samples are degenerate (repetition up to the
token limit), gamma_hat is understated, possibly negative. It needs samples_per_prompt >= 2.

Interval. D_adj = contrast(Y) with Y_cp = X_cp - gamma_hat L_cp (X, L: means over the scored
samples): its variance is the contrasts' (prompts and seeds, split-plot) plus dL^2 V(gamma_hat),
with V a prompt-clustered sandwich, sum_p (sum dL r)^2 / (sum dL^2)^2 * P / (P - 1), P - 1 df
(robust to a slope that varies by prompt). No covariance term: gamma_hat is made of deviations
from (cell, prompt) means, orthogonal to the means every contrast is made of (uncorrelated
exactly when the samples of a (cell, prompt) are exchangeable). Satterthwaite df over the parts.
tests/unit/analysis/test_length.py checks coverage and bias by simulation.

Pairwise scores (1 / 0.5 / 0 against a reference) get the same linear adjustment (a linear
probability model on the response's own length; a reference's length is a prompt effect and
drops out), and AlpacaEval's length-controlled win rate besides: a logistic GLM on the
difference between the response's and the reference's tokens (the score stage records the
references' tokens), in ablate.analysis.lc_winrate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ablate.analysis.contrasts import (
    Cell,
    CellKey,
    Contrast,
    SweepMeans,
    VarianceParts,
    _t_interval,
    arm_difference,
)
from ablate.stats import FloatArray, satterthwaite_df

Values = Mapping[str, Sequence[float | None]]  # prompt id -> one value per sample


@dataclass(frozen=True)
class LengthSlope:
    """gamma: judge points per response token, within trial and prompt (module docstring)."""

    slope: float
    low: float
    high: float
    se: float
    df: float
    n_prompts: int  # prompts with 2 or more scored samples of different lengths in a trial
    n_samples: int  # scored samples with a length in those prompts
    confidence: float
    method: str


@dataclass(frozen=True)
class LengthAdjusted:
    """An arm difference adjusted for length, and the numbers behind it."""

    contrast: Contrast  # D - gamma_hat * dL, its interval including gamma's uncertainty
    length_diff: Contrast  # dL: mean response tokens, arm minus baseline
    slope: LengthSlope
    share: float | None  # (D - D_adj) / D; None when D is 0
    p_adjusted: float | None = None  # Holm-adjusted like the raw comparison (sweep.py)
    flag: str | None = None  # verdicts.length_flag: "mostly length", "... after length ..."


@dataclass(frozen=True, eq=False)
class SampleArrays:
    """A sweep's samples as arrays (cells, prompts, samples); NaN: unscored, unmeasured or
    absent (prompts with fewer samples are padded)."""

    keys: tuple[CellKey, ...]
    prompt_ids: tuple[str, ...]
    scores: FloatArray
    lengths: FloatArray

    def means(self, values: FloatArray) -> SweepMeans:
        """Per cell and prompt, the mean of ``values`` over the samples both scored and
        measured (NaN where none is)."""
        both = np.isfinite(self.scores) & np.isfinite(self.lengths)
        count = both.sum(axis=2)
        total = np.where(both, values, 0.0).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(count > 0, total / count, np.nan)
        return SweepMeans(self.keys, self.prompt_ids, means)


def sample_arrays(cells: Sequence[Cell], lengths: Sequence[Values]) -> SampleArrays:
    """The cells' scores and their samples' lengths (``lengths[i]`` aligned sample by sample
    with ``cells[i].scores``) as SampleArrays over the union of prompt ids (sorted)."""
    ids = sorted({p for c in cells for p in c.scores})
    column = {p: j for j, p in enumerate(ids)}
    k = max((len(v) for c in cells for v in c.scores.values()), default=0)
    shape = (len(cells), len(ids), k)
    scores, measured = np.full(shape, np.nan), np.full(shape, np.nan)
    for i, (cell, cell_lengths) in enumerate(zip(cells, lengths, strict=True)):
        for pid, values in cell.scores.items():
            j = column[pid]
            for s, (x, n) in enumerate(zip(values, cell_lengths.get(pid, ()), strict=False)):
                scores[i, j, s] = np.nan if x is None else x
                measured[i, j, s] = np.nan if n is None else n
    keys = tuple((c.arm, c.n_examples, c.seed) for c in cells)
    return SampleArrays(keys, tuple(ids), scores, measured)


def length_slope(data: SampleArrays, confidence: float = 0.95) -> LengthSlope:
    """gamma_hat within (cell, prompt), with a prompt-clustered t interval (module
    docstring); ValueError when fewer than 3 prompts identify it."""
    both = np.isfinite(data.scores) & np.isfinite(data.lengths)
    count = both.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(both, data.lengths, 0.0)
        y = np.where(both, data.scores, 0.0)
        dx = np.where(both, x - x.sum(axis=2, keepdims=True) / count, 0.0)
        dy = np.where(both, y - y.sum(axis=2, keepdims=True) / count, 0.0)
    sxx, sxy = (dx * dx).sum(axis=(0, 2)), (dx * dy).sum(axis=(0, 2))
    keep = sxx > 0
    n_prompts = int(keep.sum())
    if n_prompts < 3:
        raise ValueError(
            f"{n_prompts} prompts have 2 or more scored samples of different lengths in one "
            "trial (3 needed; samples_per_prompt >= 2)"
        )
    sxx, sxy = sxx[keep], sxy[keep]
    total = float(sxx.sum())
    slope = float(sxy.sum()) / total
    score = sxy - slope * sxx  # per prompt: sum of dL * residual
    var = float(score @ score) / total**2 * n_prompts / (n_prompts - 1)
    df = n_prompts - 1.0
    low, high, se, _ = _t_interval(slope, var, df, confidence)
    used = int(((count[..., 0] >= 2) * both.sum(axis=2))[:, keep].sum())
    method = f"within trial and prompt, prompt-clustered t ({n_prompts} prompts)"
    return LengthSlope(slope, low, high, se, df, n_prompts, used, confidence, method)


def adjusted_means(data: SampleArrays, slope: float) -> tuple[SweepMeans, SweepMeans]:
    """Per cell and prompt over the samples both scored and measured: the mean of score -
    slope * length (whose contrasts are the length-adjusted ones), and the mean length."""
    return data.means(data.scores - slope * data.lengths), data.means(data.lengths)


def _with_slope(c: Contrast, length_diff: float, slope: LengthSlope) -> Contrast:
    """The contrast of adjusted scores with dL^2 V(gamma_hat) added (module docstring): a
    prompt-level part, so it joins V_cond; df by Satterthwaite over the three parts."""
    p = c.parts
    v_slope = length_diff**2 * slope.se**2
    cond = [(p.cond, p.cond_df), (v_slope, slope.df)]
    terms = [*cond, (p.cells, p.cells_df)]
    var = p.cond + v_slope + p.cells
    df = satterthwaite_df(terms) if var > 0 else c.df
    low, high, se, pv = _t_interval(c.estimate, var, df, c.confidence)
    parts = VarianceParts(p.cond + v_slope, satterthwaite_df(cond), p.cells, p.cells_df, p.noise)
    method = f"{c.method}; minus the length slope x the length difference (slope: {slope.method})"
    return dataclasses.replace(
        c, low=low, high=high, se=se, df=df, p_value=pv, method=method, parts=parts
    )


def length_adjusted_difference(
    raw: Contrast,
    adjusted: SweepMeans,
    lengths: SweepMeans,
    slope: LengthSlope,
    arm_a: str,
    arm_b: str,
    n_examples: int | None = None,
) -> LengthAdjusted:
    """Arm a minus arm b (at one size, or over the sizes both have) adjusted for length:
    ``adjusted`` and ``lengths`` are the sweep means of adjusted_means; ``raw`` the plain
    difference (for the share). ValueError as arm_difference."""
    conf = raw.confidence
    dl = arm_difference(lengths, arm_a, arm_b, n_examples, conf)
    c = arm_difference(adjusted, arm_a, arm_b, n_examples, conf)
    share = (raw.estimate - c.estimate) / raw.estimate if raw.estimate != 0 else None
    return LengthAdjusted(_with_slope(c, dl.estimate, slope), dl, slope, share)
