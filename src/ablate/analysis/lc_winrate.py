"""AlpacaEval's length-controlled win rate for pairwise sweeps (pure functions).

A pairwise judge compares each response with a reference response to the same prompt (another
arm's, or a reference file's) and scores it 1 / 0.5 / 0 (win / tie / lose); the mean is the win
rate. Judges prefer the longer of two answers, so Dubois et al. (2024, "Length-Controlled
AlpacaEval"; alpaca_eval's get_length_controlled_winrate, GLM "length_controlled_v1") fit a
logistic GLM of each model's preference y_i over the baseline, for response i to prompt p:

    logit P(win) = theta_t + psi_t * delta_p + phi * tanh(dL_i / sd)

with dL_i = response tokens - reference tokens and delta_p the prompt's difficulty. The
length-controlled (LC) win rate of model t is the mean over prompts of the prediction with the
length term at 0: what its win rate would be had every response been as long as its
reference. Here a model is a trial; a cell's LC win rate is the mean over its seeds of its
trials' (through ablate.analysis.contrasts: split-plot, seed-aware).

Declared differences from AlpacaEval:

1. phi is one for the sweep (one judge, one length preference: the issue's form), fitted with
   every trial's theta and psi in one GLM. AlpacaEval fits phi per model and regularises it
   towards "gamed" concise and verbose versions of its baseline, which vary length; a trial
   alone rarely does. With a phi per trial, an arm that writes 150 tokens longer than its
   reference everywhere (a within-trial sd of 44) left phi unidentified (tanh saturates):
   LC sd 0.27 and 0.77-0.82 coverage in simulation. sd is AlpacaEval's scale, the sd of dL
   over one model's responses, pooled over the trials (the within-trial root mean square),
   so that one phi applies to all.
2. delta_p is not AlpacaEval's precomputed instruction difficulty (a leaderboard's) but the
   sweep's own (the sweep is the leaderboard): prompt effects in a GLM logit = theta_t +
   phi * z + delta_p over the other trials (_difficulties). Fitted with the length term, so a
   prompt whose reference is short is not taken for an easy one (prompt difficulties from raw
   win rates took half of a planted length effect with them); without the trial itself, so
   the trial's own per-prompt luck does not enter its covariate (0.84 coverage with one trial
   per arm when it did). Prompt effects are not fitted in the GLM that gives phi and the LC
   win rates: fixed effects of a few responses each bias a logit's slope up (incidental
   parameters: phi 12% high, LC differences -0.03 in simulation).
3. Instead of an L1-penalised, cross-validated fit, a ridge RIDGE / 2 * |beta|^2 (a N(0, 10^2)
   prior on the logit scale) that keeps a trial that wins or loses everything finite and is
   otherwise negligible. Ties (0.5) enter as fractional outcomes, as alpaca_eval's weighted
   duplicated rows do.
4. The LC win rate averages prompts equally (the mean of prompt means, as every score here),
   and lengths are tokens: the generator's (Sample.n_tokens), and the reference's counted the
   same way by the score stage (records.REFERENCE_LENGTHS), not characters.

Interval. The LC win rates are smooth functions of one M-estimator (the GLM), linearised per
prompt (the delta method, as the held-out loss is in ablate.analysis.sweep): over the P_t
prompts trial t has, x_tp = Lambda_tp + P_t * (c_tp - mean_t c), c_tp = g_t' H^-1 (U_p -
RIDGE * beta / P), with Lambda_tp the trial's prediction for prompt p at dL = 0, U_p prompt
p's part of the score equations over every trial (phi is shared: another trial's responses
move theta_t through it), H the penalised information and g_t the LC win rate's gradient.
Their plain mean is exactly the LC win rate, the plug-in mean of Lambda_tp over the trial's
prompts (c is centred over them: the score equations sum to 0 over the sweep's prompts, not
over those of a trial that lacks some), and their spread over prompts gives its sandwich
variance, clustered by prompt. Fed to the contrasts as one value per prompt and trial, every
LC interval resamples prompts and, with several seeds, includes training-seed variance;
differences are paired by prompt, and flagged "mostly length" by the linear adjustment's
rule (verdicts.length_flag). Win rates and their intervals lie in [0, 1], differences of two
in [-1, 1]: a t interval that reaches past them is cut there (contrasts.clipped; its method
says so). The assumptions are AlpacaEval's: the judge's length preference is phi * tanh(dL /
sd), the same for every trial and prompt; a trial's quality that varies across prompts in
step with its length there is taken for length. tests/unit/analysis/test_lc_winrate.py checks
bias and coverage by simulation.

Fits. Each is Newton's method on the penalised log-likelihood (_minimize). The difficulties
take one fit per trial, its prompt effects a diagonal block of the information, so each step
solves only the (trials + 1) Schur complement, warm-started from the fit with every trial,
and keeps long dots and small products off threaded BLAS (_dot): about a second for 76
trials x 300 prompts x 2 samples (benchmarks/bench_lc_winrate.py), where scipy's
trust-exact on the full (trials + 1 + prompts) information took 2 s on one BLAS thread and
7 to 70 s on several, by how busy the machine was.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from ablate.analysis.contrasts import CellKey, Contrast, SweepMeans, clipped
from ablate.stats import FloatArray, Interval, t_interval_of_prompt_means

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

Values = Mapping[str, Sequence[float | None]]  # prompt id -> one value per sample
RIDGE = 0.01  # penalty on each coefficient (a N(0, 10^2) prior on the logit scale)
MIN_PROMPTS = 3  # prompts a trial's fit needs (3 coefficients, and a spread over prompts)
METHOD = "AlpacaEval length-controlled GLM per trial, delta method over prompts"


@dataclass(frozen=True)
class TrialWinRate:
    """One trial's GLM and its win rates (module docstring)."""

    key: CellKey
    # Each with a t interval over the trial's prompts (no seed part: one trial), a win rate's
    # cut to [0, 1]
    win_rate: Interval  # raw: mean of prompt means of its scored responses
    lc_win_rate: Interval  # the GLM's prediction at zero length difference, mean over prompts
    length_diff: Interval  # mean over prompts of the mean tokens, response - reference
    theta: float
    psi: float  # logit per unit of prompt difficulty
    n_prompts: int
    n_responses: int
    per_prompt: Mapping[str, float]  # linearised values: their mean is lc_win_rate's estimate


@dataclass(frozen=True)
class LengthPreference:
    """The judge's length preference, one for the sweep (module docstring)."""

    phi: Interval  # logit per unit of tanh(dL / scale), t over prompts (clustered sandwich)
    scale: float  # sd of dL within a trial, pooled over the sweep's trials
    n_prompts: int
    n_responses: int


@dataclass(frozen=True)
class WinRates:
    """A pairwise sweep's LC win rates: per trial, the length preference behind them, and a
    note for each trial that has none."""

    trials: list[TrialWinRate]
    preference: LengthPreference | None
    notes: list[str]


@dataclass(frozen=True)
class LengthControlled:
    """Arm a minus arm b in LC win rate, and its "mostly length" flag."""

    contrast: Contrast
    share: float | None  # (raw - LC) / raw difference; None when the raw one is 0
    p_adjusted: float | None = None  # Holm-adjusted like the raw comparison (sweep.py)
    flag: str | None = None  # verdicts.length_flag


@dataclass(frozen=True)
class TrialInput:
    """One done trial of a pairwise sweep: its scores and response tokens (aligned sample by
    sample, as TrialData's) and each prompt's reference tokens."""

    key: CellKey
    scores: Values
    lengths: Values
    reference: Mapping[str, float]


@dataclass(frozen=True)
class _Rows:
    """All trials' responses that are scored and measured (with a reference length), as
    arrays; prompts are indices into ``ids``, trials into the inputs."""

    y: FloatArray
    z: FloatArray  # tanh(dL / scale)
    dl: FloatArray
    trial: IntArray
    prompt: IntArray
    ids: tuple[str, ...]
    scale: float


def _rows(trials: Sequence[TrialInput]) -> _Rows:
    column: dict[str, int] = {}
    y, dl, trial, prompt = [], [], [], []
    for t, found in enumerate(trials):
        for pid, values in found.scores.items():
            ref = found.reference.get(pid)
            # Aligned sample by sample (results.py reads both from judgments.jsonl, in its
            # order): a prompt whose counts differ is a bug, not data to skip.
            for v, n in zip(values, found.lengths.get(pid, ()), strict=True):
                if ref is None or v is None or n is None or not math.isfinite(v + n + ref):
                    continue
                y.append(float(v))
                dl.append(float(n) - float(ref))
                trial.append(t)
                prompt.append(column.setdefault(pid, len(column)))
    d, index = np.array(dl, dtype=float), np.array(trial, dtype=np.int64)
    scale = _within_sd(d, index, len(trials))
    z = np.tanh(d / scale) if scale > 0 else np.zeros_like(d)
    return _Rows(np.array(y, dtype=float), z, d, index, np.array(prompt, dtype=np.int64),
                 tuple(column), scale)  # fmt: skip


def _within_sd(d: FloatArray, trial: IntArray, n_trials: int) -> float:
    """AlpacaEval's scale, the sd of dL over one model's responses, pooled over the trials
    (so that one phi applies to all): the root of the within-trial mean square."""
    count = np.bincount(trial, minlength=n_trials)
    df = d.size - int((count > 0).sum())
    if df < 1:
        return 0.0
    means = np.bincount(trial, d, n_trials) / np.maximum(count, 1)
    return float(np.sqrt(((d - means[trial]) ** 2).sum() / df))


Solve = Callable[[FloatArray, FloatArray], FloatArray]  # (row weights w, g) -> H(w)^-1 g
NEWTON_STEPS = 100  # at most; 4 from a warm start, 6 from 0 (76 trials x 300 prompts)
NEWTON_TOL = 1e-10  # largest coefficient change at which the fit has converged
FULL_STEP = 1e-8  # Newton decrement below which the full step is taken unchecked (quadratic)


def _dot(a: FloatArray, b: FloatArray) -> float:
    """a . b without BLAS: OpenBLAS spreads a dot of over 10,000 values (one per response)
    and a small matrix product over threads, and on a busy machine waking them costs 10 to
    50 times the work (6 ms for a 0.1 ms dot of 44,000 values, measured)."""
    return float(np.einsum("i,i->", a, b))


def _minimize(
    y: FloatArray,
    start: FloatArray,
    eta: Callable[[FloatArray], FloatArray],
    grad: Callable[[FloatArray], FloatArray],
    solve: Solve,
) -> FloatArray:
    """The penalised fractional-logistic fit from ``start``: its coefficients. ``grad(r)``
    maps per-row residuals mu - y to the coefficients, ``solve(w, g)`` solves the penalised
    information at the rows' weights w = mu (1 - mu) for g (each model its own way: a
    structured solve is what makes the difficulties fast)."""

    def loss(beta: FloatArray) -> float:
        e = eta(beta)
        return float(np.logaddexp(0.0, e).sum()) - _dot(y, e) + RIDGE / 2 * _dot(beta, beta)

    # Strictly convex (the ridge): Newton's method with step halving reaches the one minimum,
    # quadratically once near it, where the loss's rounding (~1e-12 of ~1e4) would stall the
    # halving, so small decrements take the full step.
    beta = start.astype(float)
    for _ in range(NEWTON_STEPS):
        mu = special.expit(eta(beta))
        g = grad(mu - y) + RIDGE * beta
        step = solve(mu * (1 - mu), g)
        decrement, t = _dot(g, step), 1.0
        if decrement > FULL_STEP:
            value = loss(beta)
            while loss(beta - t * step) > value - t * decrement / 4 and t > 1e-12:  # Armijo
                t /= 2
        beta = beta - t * step
        if t * float(np.abs(step).max(initial=0.0)) < NEWTON_TOL:
            break
    return beta


def _prompt_effects(rows: _Rows, keep: BoolArray, start: FloatArray | None = None) -> FloatArray:
    """The kept rows' GLM with prompt effects: logit = theta_t + phi * z + delta_p, its
    coefficients (theta for the kept trials in order, phi, then delta for every prompt: 0
    where no kept row has it). Only delta is used: the difficulties, with the prompts' share
    of the length effect left in phi (a prompt whose reference is short is not an easy one)."""
    present, trial = np.unique(rows.trial[keep], return_inverse=True)
    t, p, k, z = present.size, len(rows.ids), rows.prompt[keep], rows.z[keep]
    cell = trial * p + k

    def eta(b: FloatArray) -> FloatArray:
        return b[trial] + b[t] * z + b[t + 1 + k]

    def grad(r: FloatArray) -> FloatArray:
        return np.concatenate([np.bincount(trial, r, t), [_dot(r, z)], np.bincount(k, r, p)])

    def solve(w: FloatArray, g: FloatArray) -> FloatArray:
        """The information [[A, B], [B', D]], a = (theta, phi) and delta, has a diagonal
        delta block D: eliminate delta and solve the (t + 1) Schur complement A - B D^-1 B'
        (t^2 P per step, not (t + P)^3)."""
        wz = w * z
        a = np.diag(np.append(np.bincount(trial, w, t), _dot(wz, z)) + RIDGE)
        a[:t, t] = a[t, :t] = np.bincount(trial, wz, t)
        b = np.vstack([np.bincount(cell, w, t * p).reshape(t, p), np.bincount(k, wz, p)])
        d = np.bincount(k, w, p) + RIDGE
        scaled = b / d
        schur = a - np.einsum("ip,jp->ij", scaled, b)  # no BLAS: see _dot
        head = np.linalg.solve(schur, g[: t + 1] - scaled @ g[t + 1 :])
        return np.concatenate([head, (g[t + 1 :] - b.T @ head) / d])

    first = np.zeros(t + 1 + p) if start is None else start
    return _minimize(rows.y[keep], first, eta, grad, solve)


def _difficulties(rows: _Rows, n_trials: int) -> FloatArray:
    """delta per trial and prompt, (trials, prompts), each trial left out of its own: with
    its own data in, delta_p absorbed part of the trial's per-prompt luck and the intervals
    came out too narrow (0.84 coverage with one trial per arm). With one trial there is no
    other: delta is 0 and the term drops out."""
    if n_trials < 2:
        return np.zeros((1, len(rows.ids)))
    every = _prompt_effects(rows, np.ones(rows.y.size, dtype=bool))
    # Warm start from the fit with every trial: a few Newton steps move it.
    return np.array([_prompt_effects(rows, rows.trial != i, np.delete(every, i))[n_trials:]
                     for i in range(n_trials)])  # fmt: skip


@dataclass(frozen=True)
class _Fit:
    """The sweep's GLM: logit = theta_t + psi_t * delta_tp + phi * z, its coefficients
    (theta, psi per trial, then phi), information, and each prompt's part of the penalised
    score equations, U_p - RIDGE * beta / P (columns)."""

    beta: FloatArray
    info: FloatArray
    score: FloatArray  # (2T + 1, prompts)


def _sweep_fit(rows: _Rows, delta: FloatArray) -> _Fit:
    t, p, k, z = delta.shape[0], len(rows.ids), rows.prompt, rows.z
    d, cell = delta[rows.trial, k], rows.trial * p + k

    def eta(b: FloatArray) -> FloatArray:
        return b[rows.trial] + b[t + rows.trial] * d + b[2 * t] * z

    def sums(v: FloatArray) -> FloatArray:
        return np.bincount(rows.trial, v, t).astype(float)

    def grad(r: FloatArray) -> FloatArray:
        return np.concatenate([sums(r), sums(r * d), [_dot(r, z)]])

    def information(w: FloatArray) -> FloatArray:
        h = RIDGE * np.eye(2 * t + 1)
        h[:t, :t] += np.diag(sums(w))
        h[t : 2 * t, t : 2 * t] += np.diag(sums(w * d * d))
        h[:t, t : 2 * t] = h[t : 2 * t, :t] = np.diag(sums(w * d))
        h[:t, 2 * t], h[t : 2 * t, 2 * t] = sums(w * z), sums(w * d * z)
        h[2 * t, : 2 * t], h[2 * t, 2 * t] = h[: 2 * t, 2 * t], _dot(w, z * z) + RIDGE
        return h

    def solve(w: FloatArray, g: FloatArray) -> FloatArray:
        return np.asarray(np.linalg.solve(information(w), g), dtype=np.float64)

    beta = _minimize(rows.y, np.zeros(2 * t + 1), eta, grad, solve)
    mu = special.expit(eta(beta))
    info, r = information(mu * (1 - mu)), rows.y - mu
    by_cell = np.bincount(cell, r, t * p).reshape(t, p)
    by_cell_d = np.bincount(cell, r * d, t * p).reshape(t, p)
    score = np.vstack([by_cell, by_cell_d, np.bincount(k, r * z, p)[None, :]])
    return _Fit(beta, info, score - RIDGE * beta[:, None] / p)


def _prompt_mean(values: FloatArray, confidence: float) -> Interval:
    """The mean of per-prompt values with its t interval over the prompts (stats')."""
    found = t_interval_of_prompt_means([[v] for v in values.tolist()], confidence)
    return dataclasses.replace(found, method=f"t over {values.size} prompts")


def _win_rate(values: FloatArray, confidence: float) -> Interval:
    """A win rate's: its interval cut to [0, 1] (contrasts.clipped)."""
    return clipped(_prompt_mean(values, confidence), 0.0, 1.0)


def _trial_rates(
    rows: _Rows, t: int, key: CellKey, fit: _Fit, delta: FloatArray, confidence: float
) -> TrialWinRate:
    """Trial t's LC win rate and its per-prompt values, linearised through the sweep's fit
    (phi is shared: another trial's data moves theta_t through it). ValueError with fewer
    than MIN_PROMPTS prompts.

    The estimate is the plug-in mean of Lambda over the trial's own prompts. The correction
    term is centred over those prompts: its columns sum to 0 over the sweep's prompts, not
    over a trial's that lacks some (an unscored verdict drops a prompt with one sample), and
    uncentred they moved the mean (0.518 against a plug-in 0.528 with 8 of 30 prompts
    unscored, test_lc_winrate). A constant shift leaves the spread over prompts, so the
    variance, unchanged."""
    mine = rows.trial == t
    used, local = np.unique(rows.prompt[mine], return_inverse=True)
    p, n = used.size, delta.shape[0]
    if p < MIN_PROMPTS:
        raise ValueError(f"{p} prompts have a scored response and a reference length "
                         f"({MIN_PROMPTS} needed)")  # fmt: skip
    theta, psi, d = fit.beta[t], fit.beta[n + t], delta[t, used]
    lam = special.expit(theta + psi * d)
    g = np.zeros(fit.beta.size)  # d LC_t / d beta: only its theta and psi
    g[t], g[n + t] = (lam * (1 - lam)).mean(), (lam * (1 - lam) * d).mean()
    correction = np.linalg.solve(fit.info, g) @ fit.score[:, used]
    per_prompt = lam + p * (correction - correction.mean())
    lc = dataclasses.replace(_prompt_mean(per_prompt, confidence), estimate=float(lam.mean()))
    count = np.bincount(local, minlength=p)
    y = rows.y[mine]
    return TrialWinRate(
        key,
        _win_rate(np.bincount(local, y, p) / count, confidence),
        clipped(lc, 0.0, 1.0),
        _prompt_mean(np.bincount(local, rows.dl[mine], p) / count, confidence),
        float(theta), float(psi), p, int(y.size),
        {rows.ids[i]: x_p for i, x_p in zip(used.tolist(), per_prompt.tolist(), strict=True)},
    )  # fmt: skip


def _preference(rows: _Rows, fit: _Fit, confidence: float) -> LengthPreference:
    """phi with its sandwich interval, clustered by prompt: the t interval of phi_hat + P x
    each prompt's part of phi_hat - phi (they sum to 0: the score equations), whose variance
    over prompts / P is the sandwich's sum of squared parts x P / (P - 1)."""
    p = len(rows.ids)
    row = np.linalg.solve(fit.info, np.eye(fit.beta.size)[-1])
    influence = row @ fit.score  # each prompt's part of phi_hat - phi
    phi = float(fit.beta[-1])
    found = _prompt_mean(phi + p * (influence - influence.mean()), confidence)
    return LengthPreference(dataclasses.replace(found, estimate=phi), rows.scale, p,
                            int(rows.y.size))  # fmt: skip


def lc_win_rates(trials: Sequence[TrialInput], confidence: float = 0.95) -> WinRates:
    """Each trial's LC win rate (its intervals at ``confidence``), the sweep's length
    preference, and a note for each trial that has none."""
    rows, notes = _rows(trials), []
    measured = np.bincount(rows.trial, minlength=len(trials)) > 0
    if not measured.all():
        notes = [f"{_name(t.key)}: no response is both scored and measured"
                 for t, keep in zip(trials, measured, strict=True) if not keep]  # fmt: skip
        trials = [t for t, keep in zip(trials, measured, strict=True) if keep]
        rows = _rows(trials)
    if len(rows.ids) < MIN_PROMPTS:
        return WinRates([], None, [*notes, f"{len(rows.ids)} prompts have a scored response "
                                   f"and a reference length ({MIN_PROMPTS} needed)"])  # fmt: skip
    delta = _difficulties(rows, len(trials))
    fit = _sweep_fit(rows, delta)
    fits = []
    for t, found in enumerate(trials):
        try:
            fits.append(_trial_rates(rows, t, found.key, fit, delta, confidence))
        except ValueError as e:
            notes.append(f"{_name(found.key)}: {e}")
    return WinRates(fits, _preference(rows, fit, confidence), notes)


def _name(key: CellKey) -> str:
    arm, n, seed = key
    return f"{arm} n={n} seed {seed}"


def lc_means(fits: Sequence[TrialWinRate]) -> SweepMeans:
    """The trials' linearised values as a sweep (one value per prompt and trial, NaN where a
    trial has none): its contrasts are the LC win rates' group means and differences."""
    ids = sorted({p for f in fits for p in f.per_prompt})
    means = np.array([[f.per_prompt.get(p, math.nan) for p in ids] for f in fits], dtype=float)
    return SweepMeans(tuple(f.key for f in fits), tuple(ids), means.reshape(len(fits), len(ids)))
