"""Length-controlled judge scores, checked by simulation: a planted pure-length effect is removed
(the adjusted interval covers 0 at the nominal rate), a planted quality effect is kept, with or
without equal lengths, and a quality effect that comes with longer answers is not taken for
length. Then the sweep analysis, the flag rule and the reader of response lengths."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ablate.analysis.contrasts import Contrast, arm_difference
from ablate.analysis.length import (
    LengthAdjusted,
    SampleArrays,
    adjusted_means,
    length_adjusted_difference,
    length_slope,
)
from ablate.analysis.sweep import Design, TrialData, analyze_sweep
from ablate.analysis.verdicts import MOSTLY_LENGTH, comparison_verdict, length_flag
from ablate.ledger import TrialLedger, trial_root
from ablate.plan import STAGES, Trial
from ablate.results import judge_scores, response_lengths

GAMMA = 0.005  # judge points per token: 40 more tokens look like +0.2 points
SIMULATIONS = 200


def simulate(
    rng: np.random.Generator,
    gamma: float = GAMMA,
    longer: float = 40.0,
    quality: float = 0.0,
    with_length: float = 0.0,
    prompts: int = 40,
    samples: int = 4,
    seeds: int = 3,
) -> SampleArrays:
    """Arm "a" against "b" at one size. Per prompt a typical length, and a difficulty that
    falls with it (long-answer prompts are harder: prompt effects must not leak into gamma);
    per cell a seed effect and a seed shift of length; per cell and prompt a length shift
    and a score shift (``with_length``: arm a's quality rises on the prompts where it writes
    longer, no judge bias needed); per sample a length and a score. ``longer``: arm a's extra
    tokens; ``quality``: its real gain in points."""
    typical = rng.normal(150, 40, prompts)
    difficulty = -0.004 * (typical - 150) + rng.normal(0, 0.5, prompts)
    keys, scores, lengths = [], [], []
    for arm, extra, gain in (("a", longer, quality), ("b", 0.0, 0.0)):
        for seed in range(seeds):
            shift = rng.normal(0, 20, prompts)
            prompt_gain = rng.normal(0, 0.2, prompts) + (arm == "a") * with_length * shift / 20
            n = typical[:, None] + extra + rng.normal(0, 10) + shift[:, None]
            n = n + rng.normal(0, 25, (prompts, samples))
            x = 3 + difficulty[:, None] + gain + rng.normal(0, 0.05) + prompt_gain[:, None]
            keys.append((arm, 64, seed))
            scores.append(x + gamma * n + rng.normal(0, 0.5, (prompts, samples)))
            lengths.append(n)
    ids = tuple(f"p{i}" for i in range(prompts))
    return SampleArrays(tuple(keys), ids, np.array(scores), np.array(lengths))


def adjust(data: SampleArrays) -> tuple[Contrast, LengthAdjusted]:
    raw = arm_difference(data.means(data.scores), "a", "b")
    slope = length_slope(data)
    adjusted, lengths = adjusted_means(data, slope.slope)
    return raw, length_adjusted_difference(raw, adjusted, lengths, slope, "a", "b")


def sweep_of(seed: int, **planted: Any) -> list[tuple[Contrast, LengthAdjusted]]:
    rng = np.random.default_rng(seed)
    return [adjust(simulate(rng, **planted)) for _ in range(SIMULATIONS)]


def coverage(found: list[tuple[Contrast, LengthAdjusted]], truth: float) -> float:
    return float(np.mean([la.contrast.low <= truth <= la.contrast.high for _, la in found]))


def mean_adjusted(found: list[tuple[Contrast, LengthAdjusted]]) -> float:
    return float(np.mean([la.contrast.estimate for _, la in found]))


def test_a_pure_length_effect_is_removed_at_the_nominal_rate() -> None:
    found = sweep_of(1)
    raw = [r for r, _ in found]
    assert np.mean([r.estimate for r in raw]) == pytest.approx(40 * GAMMA, abs=0.02)
    assert np.mean([r.low > 0 for r in raw]) > 0.4  # the raw comparison often "sees" it
    assert mean_adjusted(found) == pytest.approx(0.0, abs=0.02)  # sd 0.07 / sqrt(200)
    assert 0.9 <= coverage(found, 0.0) <= 0.99
    slopes = [la.slope for _, la in found]
    assert np.mean([s.slope for s in slopes]) == pytest.approx(GAMMA, rel=0.05)
    assert 0.9 <= np.mean([s.low <= GAMMA <= s.high for s in slopes]) <= 0.99
    assert np.median([la.share for _, la in found if la.share is not None]) > 0.7


def test_a_quality_effect_with_equal_lengths_is_kept() -> None:
    found = sweep_of(2, longer=0.0, quality=0.3)
    assert mean_adjusted(found) == pytest.approx(0.3, abs=0.02)
    assert 0.9 <= coverage(found, 0.3) <= 0.99
    assert np.mean([la.contrast.low > 0 for _, la in found]) > 0.8  # still detected


def test_quality_and_length_together_keep_the_quality_part() -> None:
    found = sweep_of(3, quality=0.3)
    assert np.mean([r.estimate for r, _ in found]) == pytest.approx(0.5, abs=0.02)
    assert mean_adjusted(found) == pytest.approx(0.3, abs=0.02)
    assert 0.9 <= coverage(found, 0.3) <= 0.99


def test_quality_that_comes_with_longer_answers_is_not_taken_for_length() -> None:
    """Arm a is better and longer, and better exactly where it writes longer, but the judge
    does not care about length: an estimate from differences between arms, or from the cell x
    prompt interaction, would call that length; the within-(trial, prompt) slope does not."""
    found = sweep_of(4, gamma=0.0, quality=0.3, with_length=0.3)
    assert np.mean([la.slope.slope for _, la in found]) == pytest.approx(0.0, abs=GAMMA / 10)
    assert mean_adjusted(found) == pytest.approx(0.3, abs=0.02)
    assert 0.9 <= coverage(found, 0.3) <= 0.99


def test_one_sample_per_prompt_does_not_identify_the_slope() -> None:
    data = simulate(np.random.default_rng(5), samples=1)
    with pytest.raises(ValueError, match="samples_per_prompt >= 2"):
        length_slope(data)


def test_unscored_and_unmeasured_samples_are_left_out() -> None:
    data = simulate(np.random.default_rng(6))
    full = length_slope(data)
    scores, lengths = data.scores.copy(), data.lengths.copy()
    scores[:, :, 0] = np.nan  # sample 0 unscored everywhere
    lengths[:, :, 1] = np.nan  # sample 1's length unknown
    thinned = length_slope(SampleArrays(data.keys, data.prompt_ids, scores, lengths))
    assert thinned.n_samples == full.n_samples // 2
    assert thinned.se > full.se
    means = SampleArrays(data.keys, data.prompt_ids, scores, lengths).means(lengths)
    assert np.allclose(means.means, data.lengths[:, :, 2:].mean(axis=2))


def test_the_flag_rule() -> None:
    rng = np.random.default_rng(7)
    raw, la = adjust(simulate(rng, longer=100.0))  # a large pure-length effect
    verdict = comparison_verdict(raw, "a", "b")
    assert verdict.kind == "difference"
    adjusted = la.contrast
    assert length_flag(verdict, adjusted, adjusted.p_value, "a", "b") == MOSTLY_LENGTH
    kept = dataclasses.replace(adjusted, estimate=0.1)
    assert length_flag(verdict, kept, 0.001, "a", "b") is None  # the same verdict
    reversed_ = dataclasses.replace(adjusted, estimate=-0.1)
    assert length_flag(verdict, reversed_, 0.001, "a", "b") == "b beats a after length adjustment"
    quiet = comparison_verdict(adjusted, "a", "b")  # no difference
    assert length_flag(quiet, adjusted, 0.9, "a", "b") is None
    assert length_flag(quiet, kept, 0.001, "a", "b") == "a beats b after length adjustment"


# --- The sweep analysis ---------------------------------------------------------------------


def trial_data(
    arm: str, n: int, seed: int, longer: float, rng: random.Random, lengths: bool = True
) -> TrialData:
    """30 prompts x 3 samples; the judge gives 0.01 points per token, arm "long" writes
    ``longer`` more tokens and is no better."""
    scores: dict[str, list[float | None]] = {}
    tokens: dict[str, list[float | None]] = {}
    for i in range(30):
        base = 100 + 10 * (i % 5)
        n_tok = [base + longer + rng.gauss(0, 20) for _ in range(3)]
        tokens[f"p{i}"] = [round(t) for t in n_tok]
        scores[f"p{i}"] = [3 + 0.01 * round(t) + rng.gauss(0, 0.3) for t in n_tok]
    return TrialData(arm, n, seed, scores, None, None, {}, tokens if lengths else None)


def test_the_sweep_flags_a_pure_length_win() -> None:
    rng = random.Random(0)
    trials = [
        trial_data(arm, n, s, longer, rng)
        for arm, longer in (("long", 60.0), ("short", 0.0))
        for n in (32, 64)
        for s in (0, 1, 2)
    ]
    analysis = analyze_sweep(trials, Design(["long", "short"], [32, 64], [0, 1, 2]))
    assert analysis.length_slope is not None
    assert analysis.length_slope.low < 0.01 < analysis.length_slope.high
    assert len(analysis.comparisons) == 3
    for c in analysis.comparisons:
        assert c.verdict.label == "long beats short"
        la = c.length_adjusted
        assert la is not None and la.flag == MOSTLY_LENGTH
        assert la.contrast.low < 0 < la.contrast.high
        assert la.length_diff.low > 40
        assert la.share == pytest.approx(1.0, abs=0.3)
    point = analysis.point("long", 32)
    assert point is not None and point.length is not None
    assert point.length.estimate == pytest.approx(180, abs=10)


def test_a_mean_response_length_interval_stays_at_or_above_zero() -> None:
    """Short responses spread far apart (0 to 12 tokens), two seeds: the t interval of the
    mean would reach below 0; a count's is cut there."""
    rng = random.Random(4)
    trials = []
    for arm in ("a", "b"):
        for seed in (0, 1):
            data = trial_data(arm, 64, seed, 0.0, rng)
            scale = 0.0 if seed == 0 else 0.12  # seed 0 writes nothing, seed 1 ~12 tokens
            tokens = (data.lengths or {}).items()
            lengths = {p: [round(scale * (t or 0)) for t in v] for p, v in tokens}
            trials.append(dataclasses.replace(data, lengths=lengths))
    analysis = analyze_sweep(trials, Design(["a", "b"], [64], [0, 1]))
    point = analysis.point("a", 64)
    assert point is not None and point.length is not None
    assert 0 < point.length.estimate < 10
    assert point.length.low == 0.0 < point.length.high
    assert point.length.method.endswith("; cut at 0")  # contrasts.clipped says so


def test_without_lengths_the_sweep_says_so() -> None:
    rng = random.Random(1)
    trials = [
        trial_data(arm, 64, s, 0.0, rng, lengths=arm == "a") for arm in ("a", "b") for s in (0, 1)
    ]
    analysis = analyze_sweep(trials, Design(["a", "b"], [64], [0, 1]))
    assert analysis.length_slope is None
    assert all(c.length_adjusted is None for c in analysis.comparisons)
    assert analysis.length_note.startswith("2 done trial(s) have no response lengths")


def test_three_arms_holm_the_adjusted_p_values() -> None:
    rng = random.Random(2)
    arms = {"long": 60.0, "short": 0.0, "mid": 30.0}
    trials = [trial_data(a, 64, s, x, rng) for a, x in arms.items() for s in (0, 1, 2)]
    analysis = analyze_sweep(trials, Design(list(arms), [64], [0, 1, 2]))
    for c in analysis.comparisons:
        la = c.length_adjusted
        assert la is not None and la.p_adjusted is not None
        assert la.p_adjusted >= la.contrast.p_value


# --- Reading the lengths --------------------------------------------------------------------


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_response_lengths_join_samples_and_judgments(tmp_path: Path) -> None:
    trial = Trial("a", "pool", 8, 0, {s: s for s in STAGES})
    assert response_lengths(tmp_path, trial) is None  # no samples file
    root = trial_root(tmp_path, trial)
    _write(
        root / "generate" / "samples.jsonl",
        [{"prompt_id": p, "sample": k, "n_tokens": 10 * (k + 1)} for p in "xy" for k in (0, 1)],
    )
    judged = [("y", 1, 4.0), ("x", 0, None), ("x", 1, 5.0), ("z", 0, 3.0)]  # z: no sample
    _write(
        TrialLedger(root, trial.judge_name).stage_dir("judge") / "judgments.jsonl",
        [{"prompt_id": p, "sample": k, "score": s, "scored": s is not None} for p, k, s in judged],
    )
    lengths = response_lengths(tmp_path, trial)
    assert lengths == {"y": [20.0], "x": [10.0, 20.0], "z": [None]}
    scores = judge_scores(tmp_path, trial)
    assert lengths is not None
    assert {p: len(v) for p, v in scores.items()} == {p: len(v) for p, v in lengths.items()}
    assert not math.isnan(sum(x for v in lengths.values() for x in v if x is not None))
