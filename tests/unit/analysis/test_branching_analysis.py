"""The branching factor across a sweep: exp of the seed- and prompt-aware mean entropy per
(arm, size), base / tuned paired by prompt, and the report's table."""

from __future__ import annotations

import dataclasses
import math
import random

from ablate.analysis.branching import BranchingCell, branching_points
from ablate.analysis.sweep import Design, TrialData, analyze_sweep
from tests.unit.test_report import _context

PROMPTS = [f"p{i}" for i in range(40)]


def entropies(level: float, rng: random.Random) -> dict[str, float]:
    return {p: level + (i % 4) * 0.1 + rng.gauss(0, 0.02) for i, p in enumerate(PROMPTS)}


def test_the_factor_is_exp_of_the_mean_entropy_and_base_over_tuned_is_paired() -> None:
    rng = random.Random(0)
    base = {p: math.log(8.0) + (i % 4) * 0.1 for i, p in enumerate(PROMPTS)}
    cells = [BranchingCell("a", 64, s, entropies(math.log(2.0), rng)) for s in (0, 1, 2)]
    (point,) = branching_points(cells, ["a"], [64], 0.95, base)
    # Mean entropy ln 2 + 0.15 (the prompt offsets average 0.15): the factor is 2 e^0.15.
    assert point.factor.low < 2.0 * math.exp(0.15) < point.factor.high
    assert point.factor.high / point.factor.low < 1.1  # the prompts spread 0.3 nats
    ratio = point.fewer_than_base
    assert ratio is not None and ratio.low < 4.0 < ratio.high  # 8 branches against 2: 4x fewer
    assert "paired with the base model; the 3 seeds averaged per prompt" in ratio.method


def test_the_report_shows_base_and_tuned(tmp_path: object) -> None:
    from ablate.report import render_markdown

    rng = random.Random(1)
    trials = [TrialData("a", n, 0, {"q": [3.0, 4.0], "r": [2.0, 5.0]},
                        entropies=entropies(math.log(10.0) - 0.2 * math.log2(n), rng))
              for n in (32, 64, 128)]  # fmt: skip
    base = ({"branching_factor": 30.0, "branching_factor_ci_low": 29.0,
             "branching_factor_ci_high": 31.0}, {p: math.log(30.0) for p in PROMPTS})  # fmt: skip
    analysis = analyze_sweep(trials, Design(["a"], [32, 64, 128], [0]), base)
    assert [round(p.factor.value, 1) for p in analysis.branching] == sorted(
        (round(p.factor.value, 1) for p in analysis.branching), reverse=True
    )  # fewer branches with more examples, as planted
    ctx = dataclasses.replace(_context(["a"], [32, 64, 128], [0], set()), analysis=analysis)
    text = render_markdown(ctx, {})
    assert "Base model (evaluation.measure_base): 30.000 [29.000, 31.000]." in text
    assert "Base / tuned (times fewer branches than the base model):" in text
