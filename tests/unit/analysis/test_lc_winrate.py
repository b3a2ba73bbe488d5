"""AlpacaEval's length-controlled win rate, checked by simulation: a judge that prefers the longer
answer and an arm that only writes longer gives an LC win rate at the no-advantage 0.5 and an
LC difference of 0 (covered at about the nominal rate), while a real quality gain is kept, also
when it comes with longer answers. Then the edge cases, and the sweep analysis and its flag."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import numpy as np
import pytest
from scipy import special

from ablate.analysis.contrasts import Contrast, arm_difference, cell_group_mean
from ablate.analysis.lc_winrate import (
    TrialInput,
    WinRates,
    _difficulties,
    _rows,
    lc_means,
    lc_win_rates,
)
from ablate.analysis.sweep import Design, TrialData, analyze_sweep
from ablate.analysis.verdicts import MOSTLY_LENGTH

SIMULATIONS = 200
LENGTH = 1.0  # logit of a win per unit of tanh((response - reference tokens) / SCALE)
SCALE = 50.0
TIES = 0.2  # share of verdicts that are ties whatever the responses (score 0.5)
EASE_SD, SEED_SD, NOISE_SD = 0.8, 0.2, 0.3  # logit: prompt ease, seed effect, trial x prompt


def simulate(
    rng: np.random.Generator,
    longer: float = 60.0,
    quality: float = 0.0,
    prompts: int = 30,
    samples: int = 3,
    seeds: int = 2,
) -> list[TrialInput]:
    """Arm "a" (``longer`` extra tokens, ``quality`` logits better) and arm "b" against one
    reference file, at one size. Per prompt a reference length and an ease (easier where the
    reference is longer: prompt effects must not be taken for length); per trial a seed
    effect and length shift; per trial and prompt a length shift and a skill; per response a
    length and a verdict: P(win) = expit(quality + seed + ease + skill + LENGTH * tanh(dL /
    50)), a tie with probability TIES."""
    reference = np.clip(rng.normal(150, 40, prompts), 5, None)
    ease = rng.normal(0, EASE_SD, prompts) + 0.004 * (reference - 150)
    typical = reference + rng.normal(0, 30, prompts)
    ids = [f"p{i}" for i in range(prompts)]
    trials = []
    for arm, extra, gain in (("a", longer, quality), ("b", 0.0, 0.0)):
        for seed in range(seeds):
            shift = typical + extra + rng.normal(0, 10) + rng.normal(0, 20, prompts)
            n = np.clip(np.round(shift[:, None] + rng.normal(0, 25, (prompts, samples))), 1, None)
            logit = gain + rng.normal(0, SEED_SD) + ease + rng.normal(0, NOISE_SD, prompts)
            p = special.expit(logit[:, None] + LENGTH * np.tanh((n - reference[:, None]) / SCALE))
            shape = (prompts, samples)
            y = np.where(rng.random(shape) < TIES, 0.5, (rng.random(shape) < p).astype(float))
            trials.append(
                TrialInput(
                    (arm, 64, seed),
                    {pid: y[i].tolist() for i, pid in enumerate(ids)},
                    {pid: n[i].tolist() for i, pid in enumerate(ids)},
                    dict(zip(ids, reference.tolist(), strict=True)),
                )
            )
    return trials


@cache
def truth(quality: float) -> float:
    """The LC win rate difference a - b the model implies: the mean win rate at zero length
    difference, over prompts, seeds and skills (ties count 0.5)."""
    rng = np.random.default_rng(0)
    sd = np.sqrt(EASE_SD**2 + 0.16**2 + SEED_SD**2 + NOISE_SD**2)  # 0.16: ease from reference
    x = rng.normal(0, sd, 1_000_000)
    return (1 - TIES) * float(special.expit(quality + x).mean() - special.expit(x).mean())


@cache
def simulated(seed: int, **planted: Any) -> list[tuple[WinRates, Contrast, Contrast]]:
    """Per simulated sweep: its LC win rates, their difference a - b and arm a's."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(SIMULATIONS):
        rates = lc_win_rates(simulate(rng, **planted))
        assert not rates.notes
        means = lc_means(rates.trials)
        found.append((rates, arm_difference(means, "a", "b"), cell_group_mean(means, "a", 64)))
    return found


def raw_difference(rates: WinRates) -> float:
    fits = rates.trials
    by_arm = {arm: [f.win_rate.estimate for f in fits if f.key[0] == arm] for arm in "ab"}
    return float(np.mean(by_arm["a"]) - np.mean(by_arm["b"]))


def coverage(contrasts: list[Contrast], value: float) -> float:
    return float(np.mean([c.low <= value <= c.high for c in contrasts]))


def test_a_pure_length_advantage_is_removed_at_the_nominal_rate() -> None:
    found = simulated(1)
    raw = [raw_difference(r) for r, _, _ in found]
    differences = [d for _, d, _ in found]
    rates = [a for _, _, a in found]
    assert np.mean(raw) == pytest.approx(0.106, abs=0.01)  # the judge's length preference
    # LC: sd 0.09 over 200 sweeps, so the mean is known to +-0.013 (two standard errors)
    assert np.mean([d.estimate for d in differences]) == pytest.approx(0.0, abs=0.015)
    assert 0.9 <= coverage(differences, 0.0) <= 0.99
    # Arm a is as good as the reference: no advantage once lengths are equal.
    assert np.mean([a.estimate for a in rates]) == pytest.approx(0.5, abs=0.015)
    assert np.mean([f.win_rate.estimate for r, _, _ in found for f in r.trials[:2]]) > 0.55
    assert 0.9 <= coverage(rates, 0.5) <= 0.99
    # The judge's preference is seen (attenuated by the ties) and its interval is honest
    phi = [r.preference.phi for r, _, _ in found if r.preference is not None]
    assert len(phi) == SIMULATIONS and np.mean([p.estimate for p in phi]) > 0.5
    assert np.std([p.estimate for p in phi]) == pytest.approx(
        np.mean([(p.high - p.low) / 2 / 1.97 for p in phi]), rel=0.2
    )


def test_a_quality_advantage_is_kept_when_it_comes_with_much_longer_answers() -> None:
    found = simulated(2, quality=0.5, longer=150.0)
    differences = [d for _, d, _ in found]
    assert np.mean([raw_difference(r) for r, _, _ in found]) > truth(0.5) + 0.08
    assert np.mean([d.estimate for d in differences]) == pytest.approx(truth(0.5), abs=0.015)
    assert 0.9 <= coverage(differences, truth(0.5)) <= 0.99


def test_with_equal_lengths_the_lc_win_rate_is_the_raw_one_near_enough() -> None:
    rng = np.random.default_rng(3)
    for f in lc_win_rates(simulate(rng, longer=0.0, quality=0.5, prompts=60, seeds=1)).trials:
        assert f.lc_win_rate.estimate == pytest.approx(f.win_rate.estimate, abs=0.05)
        assert f.lc_win_rate.low < f.lc_win_rate.estimate < f.lc_win_rate.high


def plug_in(trials: list[TrialInput], rates: WinRates) -> dict[tuple[str, int, int], float]:
    """Each trial's LC win rate by definition: the mean over its own prompts of the fit's
    prediction at zero length difference, expit(theta + psi * delta_p)."""
    rows = _rows(trials)
    delta = _difficulties(rows, len(trials))
    found = {}
    for t, f in enumerate(trials):
        assert rates.trials[t].key == f.key
        mine = np.unique(rows.prompt[rows.trial == t])
        fit = rates.trials[t]
        found[f.key] = float(special.expit(fit.theta + fit.psi * delta[t, mine]).mean())
    return found


def unscored(trial: TrialInput, prompts: list[str]) -> TrialInput:
    """The trial with every verdict on ``prompts`` unscored (samples_per_prompt 1 makes one
    unscored verdict drop a prompt)."""
    scores = {p: [None] * len(v) if p in prompts else v for p, v in trial.scores.items()}
    return dataclasses.replace(trial, scores=scores)


@pytest.mark.parametrize("missing", [0, 8])
def test_the_lc_win_rate_is_the_mean_prediction_over_the_trials_own_prompts(missing: int) -> None:
    """Also, and above all, when a trial lacks prompts the others have: the linearised values
    average to the plug-in estimate there too (their correction term is centred over the
    trial's prompts; uncentred it moved the mean, 0.529 against 0.540)."""
    trials = simulate(np.random.default_rng(4))
    trials[0] = unscored(trials[0], [f"p{i}" for i in range(missing)])
    rates = lc_win_rates(trials)
    truth = plug_in(trials, rates)
    for f in rates.trials:
        assert f.lc_win_rate.estimate == pytest.approx(truth[f.key], abs=1e-12)
        assert np.mean(list(f.per_prompt.values())) == pytest.approx(truth[f.key], abs=1e-12)
        assert f.n_prompts == (30 - missing if f.key == trials[0].key else 30)
    assert rates.trials[0].n_responses == 90 - 3 * missing


# --- Edge cases -----------------------------------------------------------------------------


def one_trial(key: tuple[str, int, int], scores: list[list[float | None]]) -> TrialInput:
    ids = [f"p{i}" for i in range(len(scores))]
    lengths = {p: [100.0 + 10 * k for k in range(len(s))] for p, s in zip(ids, scores, strict=True)}
    return TrialInput(key, dict(zip(ids, scores, strict=True)), lengths, dict.fromkeys(ids, 110.0))


def test_a_trial_that_wins_everything_stays_finite() -> None:
    wins = one_trial(("a", 8, 0), [[1.0, 1.0]] * 5)
    mixed = one_trial(("b", 8, 0), [[1.0, 0.0], [0.5, 0.0], [0.0, 1.0], [1.0, 0.5], [0.0, 0.0]])
    rates = lc_win_rates([wins, mixed])
    assert not rates.notes
    best = next(f for f in rates.trials if f.key[0] == "a")
    assert best.win_rate.estimate == 1.0 and 0.95 < best.lc_win_rate.estimate <= 1.0


def test_trials_without_enough_prompts_are_named_not_fitted() -> None:
    few = one_trial(("a", 8, 0), [[1.0, 0.0], [0.0, 1.0]])
    unscored = one_trial(("ref", 8, 0), [[None, None]] * 5)
    enough = one_trial(("b", 8, 0), [[1.0, 0.0], [0.5, 0.0], [0.0, 1.0], [1.0, 0.5]])
    rates = lc_win_rates([few, unscored, enough])
    assert [f.key for f in rates.trials] == [("b", 8, 0)]
    assert rates.notes == [
        "ref n=8 seed 0: no response is both scored and measured",
        "a n=8 seed 0: 2 prompts have a scored response and a reference length (3 needed)",
    ]
    assert lc_win_rates([few]).trials == [] and lc_win_rates([few]).preference is None


def test_a_trials_win_rate_intervals_stay_within_0_and_1() -> None:
    """Five prompts, one lost: a t interval of 0.8 +- 0.56 reaches past 1, a win rate cannot."""
    nearly = one_trial(("a", 8, 0), [[1.0, 1.0]] * 4 + [[0.0, 0.0]])
    mixed = one_trial(("b", 8, 0), [[1.0, 0.0], [0.5, 0.0], [0.0, 1.0], [1.0, 0.5], [0.0, 0.0]])
    best = lc_win_rates([nearly, mixed]).trials[0]
    for rate in (best.win_rate, best.lc_win_rate):
        assert 0.0 < rate.low < rate.estimate < rate.high == 1.0
        assert rate.method == "t over 5 prompts; cut to [0, 1]"
    assert best.win_rate.estimate == pytest.approx(0.8)
    assert best.length_diff.method == "t over 5 prompts"  # tokens: no bounds to cut to


def test_scores_and_lengths_that_do_not_align_are_a_bug_not_data() -> None:
    """results.py reads both from judgments.jsonl: one length per score, prompt by prompt."""
    trial = one_trial(("a", 8, 0), [[1.0, 0.0]] * 4)
    short = dataclasses.replace(trial, lengths={**trial.lengths, "p0": [100.0]})
    with pytest.raises(ValueError, match="zip"):
        lc_win_rates([short])


# --- The sweep analysis ---------------------------------------------------------------------


def sweep_trials(rng: np.random.Generator, longer: float) -> list[TrialData]:
    """Three seeds per arm and size; arm "a" writes ``longer`` more tokens, no better."""
    found = []
    for n in (32, 64):
        for t in simulate(rng, longer=longer, prompts=40, seeds=3):
            arm, _, seed = t.key
            found.append(TrialData(arm, n, seed, t.scores, lengths=t.lengths,
                                   reference_lengths=t.reference))  # fmt: skip
    return found


def test_a_pairwise_sweep_flags_a_pure_length_win_in_lc_win_rate() -> None:
    trials = sweep_trials(np.random.default_rng(5), longer=150.0)
    analysis = analyze_sweep(trials, Design(["a", "b"], [32, 64], [0, 1, 2], pairwise=True))
    assert len(analysis.lc_trials) == 12 and analysis.lc_note == ""
    point = analysis.point("a", 64)
    assert point is not None and point.lc_win_rate is not None and point.judge is not None
    assert point.lc_win_rate.estimate < point.judge.estimate - 0.05
    assert point.lc_win_rate.low < 0.5 < point.lc_win_rate.high
    pooled = next(c for c in analysis.comparisons if c.n_examples is None)
    assert pooled.verdict.label == "a beats b"
    lc = pooled.length_controlled
    assert lc is not None and lc.flag == MOSTLY_LENGTH and lc.contrast.low < 0 < lc.contrast.high
    assert lc.share is not None and lc.share > 0.5


def test_lc_win_rates_only_for_pairwise_sweeps_and_trials_that_have_reference_lengths() -> None:
    trials = sweep_trials(np.random.default_rng(6), longer=0.0)
    design = Design(["a", "b"], [32, 64], [0, 1, 2])
    plain = analyze_sweep(trials, design)
    assert plain.lc_trials == [] and all(c.length_controlled is None for c in plain.comparisons)
    trials[0] = TrialData(trials[0].arm, 32, trials[0].seed, trials[0].scores,
                          lengths=trials[0].lengths)  # fmt: skip
    pairwise = analyze_sweep(trials, Design(["a", "b"], [32, 64], [0, 1, 2], pairwise=True))
    assert len(pairwise.lc_trials) == 11
    assert pairwise.lc_note.startswith("1 done trial(s) have no reference or response lengths")


def test_a_reference_arm_is_left_out_of_its_own_lc_win_rates() -> None:
    """judge.reference_arm: that arm's own trials are unscored (not compared with itself)."""
    trials = sweep_trials(np.random.default_rng(7), longer=0.0)
    ref = [TrialData("ref", t.n_examples, t.seed, {p: [None] * len(v) for p, v in t.scores.items()},
                     lengths=t.lengths, reference_lengths=t.reference_lengths)
           for t in trials if t.arm == "b"]  # fmt: skip
    analysis = analyze_sweep(trials + ref, Design(["a", "b", "ref"], [32, 64], [0, 1, 2],
                                                  pairwise=True))  # fmt: skip
    assert analysis.lc_note == "" and {f.key[0] for f in analysis.lc_trials} == {"a", "b"}
    assert {(c.arm, c.baseline) for c in analysis.comparisons} == {("a", "b")}
    assert all(c.length_controlled is not None for c in analysis.comparisons)


def test_a_pairwise_sweeps_win_rates_and_their_differences_stay_in_their_bounds() -> None:
    """One seed, five prompts: arm a loses one prompt, arm b wins one. The cells' win rates
    (raw and LC) are cut to [0, 1] and the differences between the arms to [-1, 1]; their
    p values and verdicts are the t intervals'."""
    found = []
    for arm, scores in (("a", [[1.0, 1.0]] * 4 + [[0.0, 0.0]]),
                        ("b", [[0.0, 0.0]] * 4 + [[1.0, 1.0]])):  # fmt: skip
        t = one_trial((arm, 8, 0), scores)
        found.append(TrialData(arm, 8, 0, t.scores, lengths=t.lengths,
                               reference_lengths=t.reference))  # fmt: skip
    analysis = analyze_sweep(found, Design(["a", "b"], [8], [0], pairwise=True))
    point = analysis.point("a", 8)
    assert point is not None and point.judge is not None and point.lc_win_rate is not None
    for rate in (point.judge, point.lc_win_rate):
        assert 0.0 < rate.low < rate.high == 1.0 and rate.method.endswith("; cut to [0, 1]")
    [comparison] = analysis.comparisons
    lc = comparison.length_controlled
    assert lc is not None
    for difference in (comparison.contrast, lc.contrast):
        assert -1.0 <= difference.low < difference.estimate < difference.high == 1.0
        assert difference.method.endswith("; cut to [-1, 1]") and difference.p_value > 0.05
    assert comparison.verdict.label == "no detectable difference"
