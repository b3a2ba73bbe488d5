"""A quantity sweep whose judge score rises with n only because its responses grow longer:
the raw slope says rising, the length-adjusted slope finds nothing left."""

from __future__ import annotations

import random

from ablate.analysis.sweep import Design, TrialData, analyze_sweep

SIZES = (32, 64, 128, 256)
PROMPTS = [f"p{i}" for i in range(40)]


def trial(n: int, seed: int, rng: random.Random, quality_per_doubling: float) -> TrialData:
    """Each sample's length varies around a mean that grows 20 tokens per doubling; the judge
    adds 0.01 points per token, plus `quality_per_doubling` of real improvement."""
    doublings = SIZES.index(n)
    scores, lengths = {}, {}
    for i, p in enumerate(PROMPTS):
        toks = [max(1.0, 100 + 20 * doublings + rng.gauss(0, 30)) for _ in range(4)]
        lengths[p] = toks
        scores[p] = [3.0 + (i % 3) * 0.2 + quality_per_doubling * doublings + 0.01 * t
                     + rng.gauss(0, 0.2) for t in toks]  # fmt: skip
    return TrialData("a", n, seed, scores, lengths=lengths)


def fits(quality: float, seed: int) -> dict[str, tuple[float, float, float]]:
    rng = random.Random(seed)
    trials = [trial(n, s, rng, quality) for n in SIZES for s in (0, 1)]
    analysis = analyze_sweep(trials, Design(["a"], list(SIZES), [0, 1]))
    return {f.metric: (f.slope, f.low, f.high) for f in analysis.fits}


def test_a_pure_length_rise_is_not_a_rise_once_adjusted() -> None:
    found = fits(0.0, 0)
    raw, adjusted = found["judge_mean"], found["judge_mean_length_adjusted"]
    assert raw[1] > 0.1  # 0.2 points per doubling, all of it length
    assert adjusted[1] <= 0 <= adjusted[2]


def test_a_real_rise_survives_the_adjustment() -> None:
    adjusted = fits(0.3, 1)["judge_mean_length_adjusted"]
    assert adjusted[1] <= 0.3 <= adjusted[2] and adjusted[1] > 0
