"""Time of the length-controlled win rate (ablate.analysis.lc_winrate) on a LIMA-size
pairwise sweep, the part of `ablate report` that fits GLMs.

    python benchmarks/bench_lc_winrate.py [--trials 76] [--prompts 300] [--samples 2] [--seed 0]

The simulated sweep: trials of arms that write longer or shorter than one reference file, each
response judged win / tie / lose with P(win) = expit(quality + prompt ease + trial x prompt
skill + tanh((response - reference tokens) / 50)), 20% ties, 3% of verdicts unscored (so some
trials miss a prompt, as with samples_per_prompt 1 or 2 they do). Prints the seconds of the
prompt difficulties (one GLM per trial, that trial left out) and of the whole analysis, and
the sweep's phi. With scipy's trust-exact on the full information the 76 x 300 x 2 sweep took
2 s on one BLAS thread (OPENBLAS_NUM_THREADS=1) and 7 to 70 s on several, by how busy the
machine was; with Newton steps on the trials' Schur complement, about 1 s either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ablate.analysis.lc_winrate import (
    TrialInput,
    _difficulties,
    _rows,
    lc_win_rates,
)


def simulate(trials: int, prompts: int, samples: int, seed: int) -> list[TrialInput]:
    rng = np.random.default_rng(seed)
    reference = np.clip(rng.normal(150, 40, prompts), 5, None)
    ease = rng.normal(0, 0.8, prompts)
    ids = [f"p{i}" for i in range(prompts)]
    found = []
    for t in range(trials):
        arm, extra, quality = f"arm{t // 2}", rng.normal(0, 60), rng.normal(0, 0.4)
        n = np.clip(np.round(reference[:, None] + extra + rng.normal(0, 40, (prompts, samples))),
                    1, None)  # fmt: skip
        logit = quality + ease + rng.normal(0, 0.3, prompts)
        p = special.expit(logit[:, None] + np.tanh((n - reference[:, None]) / 50))
        y = np.where(rng.random(n.shape) < 0.2, 0.5, (rng.random(n.shape) < p).astype(float))
        scores = [[None if rng.random() < 0.03 else float(v) for v in row] for row in y]
        found.append(TrialInput((arm, 1000, t % 2), dict(zip(ids, scores, strict=True)),
                                {pid: n[i].tolist() for i, pid in enumerate(ids)},
                                dict(zip(ids, reference.tolist(), strict=True))))  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=76)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    trials = simulate(args.trials, args.prompts, args.samples, args.seed)
    rows = _rows(trials)
    start = time.perf_counter()
    _difficulties(rows, len(trials))
    difficulties = time.perf_counter() - start
    start = time.perf_counter()
    found = lc_win_rates(trials)
    total = time.perf_counter() - start
    phi = found.preference.phi.estimate if found.preference else float("nan")
    print(
        f"{args.trials} trials x {args.prompts} prompts x {args.samples} samples "
        f"({rows.y.size} scored responses): difficulties {difficulties:.2f} s, "
        f"lc_win_rates {total:.2f} s; phi {phi:.4f}, {len(found.trials)} trials fitted"
    )


if __name__ == "__main__":
    main()
