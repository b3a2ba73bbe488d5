"""Coverage, power and verdict error rates of ablate.analysis on simulated LIMA-style sweeps.

    python benchmarks/bench_statistics.py [--sims 2000] [--integer] [--seed 0]

Each simulated sweep has LIMA's structure: 2 arms x 4 sizes (2K-16K) x 3 seeds, 300 prompts x 5
sampled responses. A response's score is base + arm effect + slope * log2(n / 2K) + prompt
effect (SD 0.7, shared by all cells) + the cell's training-seed effect (SD 0, 0.05 or 0.1) +
response noise (SD 1.0); 3% of responses are unscored at random. --integer rounds scores to
1..6 (a judge's likert scale; the truth is then the expectation of the rounded score). The
sweep goes through the functions the report uses (compare_arms, arm_difference,
scaling_slope, slope_verdict) on a SweepMeans built from the simulated prompt means.

Targets (exit 1 when one is missed by more than 2 Monte Carlo standard errors; a '!' marks
it): coverage in [0.93, 0.97] of the arm difference (per size and pooled over sizes) and of the
slope at every seed SD, also with one seed's effects correlated across sizes (nested subsets
share data); power >= 0.95 for a 0.3-point difference at seed SD 0.05; false positives <=
0.05; "plateau" said in <= 5% of sweeps whose truth rises 0.1 per doubling (the margin).
Reported, not gated: power at seed SD 0.1 and the seeds per cell that reach 0.95 there, the
plateau rate of a flat truth, and how often a prompt-only slope interval calls a flat curve a
trend. The Monte Carlo SE counts sweeps, not comparisons (the comparisons of one sweep share
its seed estimate), so it errs large. Runs in about a minute on one core at --sims 2000.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ablate.analysis import (
    SweepMeans,
    arm_difference,
    compare_arms,
    scaling_slope,
    slope_verdict,
)

SIZES = (2000, 4000, 8000, 16000)
ARMS = ("a", "b")
MARGIN = 0.1
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Scenario:
    seed_sd: float
    diff: float  # arm a - arm b, points
    slope: float  # points per doubling, both arms
    seeds: int = 3
    rho: float = 0.0  # correlation of one seed's effects across sizes (nested subsets)
    prompts: int = 300
    samples: int = 5
    base: float = 4.0
    prompt_sd: float = 0.7
    noise_sd: float = 1.0
    unscored: float = 0.03


def _latent_means(s: Scenario) -> dict[tuple[str, int], float]:
    return {
        (a, n): s.base + (s.diff if a == "a" else 0.0) + s.slope * math.log2(n / SIZES[0])
        for a in ARMS
        for n in SIZES
    }


def expected_score(latent: float, s: Scenario, integer: bool) -> float:
    """E[score] of a cell group: the latent mean, or for 1..6 rounding E[round(clip(Z))] with Z
    normal (prompt + seed + noise variance): 1 + sum_k P(Z > k + 0.5), k = 1..5."""
    if not integer:
        return latent
    sd = math.sqrt(s.prompt_sd**2 + s.seed_sd**2 + s.noise_sd**2)
    return 1.0 + sum(float(stats.norm.sf((k + 0.5 - latent) / sd)) for k in range(1, 6))


def _seed_effects(rng: np.random.Generator, s: Scenario) -> np.ndarray:
    """(arms, sizes, seeds) effects: sqrt(rho) of the variance shared by one seed's sizes."""
    shared = rng.normal(size=(len(ARMS), 1, s.seeds))
    own = rng.normal(size=(len(ARMS), len(SIZES), s.seeds))
    return s.seed_sd * (math.sqrt(s.rho) * shared + math.sqrt(1 - s.rho) * own)


def simulate(rng: np.random.Generator, s: Scenario, integer: bool) -> SweepMeans:
    """One sweep's prompt-mean matrix. Continuous scores use the sufficient statistic (the mean
    of k scored normal responses is normal with SD noise / sqrt(k)); integer ones draw every
    response, round and clip."""
    keys = [(a, n, seed) for a in ARMS for n in SIZES for seed in range(s.seeds)]
    latent = _latent_means(s)
    mu = np.array([latent[(a, n)] for a, n, _ in keys])
    cell = mu + _seed_effects(rng, s).reshape(-1)
    centre = cell[:, None] + rng.normal(0, s.prompt_sd, s.prompts)[None, :]
    shape = (len(keys), s.prompts, s.samples)
    scored = rng.random(shape) >= s.unscored
    with np.errstate(invalid="ignore", divide="ignore"):
        if integer:
            x = np.clip(np.rint(centre[..., None] + rng.normal(0, s.noise_sd, shape)), 1, 6)
            means = np.where(scored, x, 0.0).sum(-1) / scored.sum(-1)
        else:
            k = scored.sum(-1)
            means = centre + rng.normal(0, s.noise_sd, k.shape) / np.sqrt(k)
            means[k == 0] = np.nan
    ids = tuple(f"p{i}" for i in range(s.prompts))
    return SweepMeans(tuple(keys), ids, means)


@dataclass
class Tally:
    """Events over trials, grouped by sweep: the rate and its Monte Carlo standard error with
    the sweep as the unit (events of one sweep are correlated, so this errs large)."""

    hits: int = 0
    trials: int = 0
    sweeps: int = 0

    def add(self, *events: bool) -> None:
        self.hits += sum(map(bool, events))
        self.trials += len(events)
        self.sweeps += 1

    @property
    def rate(self) -> float:
        return self.hits / self.trials if self.trials else math.nan

    @property
    def mcse(self) -> float:
        p = self.rate
        return math.sqrt(max(p * (1 - p), 1 / self.trials) / self.sweeps)


@dataclass
class Results:
    diff_cover: Tally
    slope_cover: Tally
    pooled_cover: Tally
    called: Tally  # per-size comparisons called "a beats b" or "b beats a"
    a_wins: Tally  # ... called "a beats b" (power when a is better)
    plateau: Tally
    trend: Tally  # slope verdict rising or falling
    prompt_only_trend: Tally  # a prompt-only slope interval excluding 0


def _results() -> Results:
    return Results(*(Tally() for _ in range(8)))


def _truth(s: Scenario, integer: bool) -> dict[tuple[str, int], float]:
    return {g: expected_score(m, s, integer) for g, m in _latent_means(s).items()}


def _true_slope(truth: dict[tuple[str, int], float], arm: str) -> float:
    x = np.log2(SIZES)
    y = np.array([truth[(arm, n)] for n in SIZES])
    return float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())


def _score_comparisons(sweep: SweepMeans, truth: dict, r: Results) -> None:
    verdicts = [compare_arms(sweep, ARMS, n, confidence=CONFIDENCE)[0] for n in SIZES]
    true = [truth[("a", n)] - truth[("b", n)] for n in SIZES]
    pairs = zip(verdicts, true, strict=True)
    r.diff_cover.add(*(v.contrast.low <= t <= v.contrast.high for v, t in pairs))
    r.called.add(*(v.kind == "difference" for v in verdicts))
    r.a_wins.add(*(v.label == "a beats b" for v in verdicts))


def _score_slopes(sweep: SweepMeans, truth: dict, r: Results) -> None:
    pooled = arm_difference(sweep, "a", "b", confidence=CONFIDENCE)
    true = float(np.mean([truth[("a", n)] - truth[("b", n)] for n in SIZES]))
    r.pooled_cover.add(pooled.low <= true <= pooled.high)
    slopes = [scaling_slope(sweep, arm, CONFIDENCE) for arm in ARMS]
    kinds = [slope_verdict(c, MARGIN).kind for c in slopes]
    t = float(special.stdtrit(slopes[0].n_prompts - 1, (1 + CONFIDENCE) / 2))
    true_slopes = [_true_slope(truth, arm) for arm in ARMS]
    pairs = zip(slopes, true_slopes, strict=True)
    r.slope_cover.add(*(c.low <= t <= c.high for c, t in pairs))
    r.plateau.add(*(k == "plateau" for k in kinds))
    r.trend.add(*(k in ("rising", "falling") for k in kinds))
    r.prompt_only_trend.add(*(abs(c.estimate) > t * math.sqrt(c.prompt_var) for c in slopes))


def run(s: Scenario, sims: int, integer: bool, seed: int, slopes: bool = True) -> Results:
    rng = np.random.default_rng(seed)
    truth, r = _truth(s, integer), _results()
    for _ in range(sims):
        sweep = simulate(rng, s, integer)
        _score_comparisons(sweep, truth, r)
        if slopes:
            _score_slopes(sweep, truth, r)
    return r


def calibrate(s: Scenario, integer: bool) -> Scenario:
    """On the 1..6 scale rounding and clipping shrink a latent effect; scale the latent diff and
    slope by 1 / f'(base) so that the expected scores differ by about the planted amounts."""
    if not integer:
        return s
    h = 1e-4
    slope = (expected_score(s.base + h, s, True) - expected_score(s.base - h, s, True)) / (2 * h)
    return replace(s, diff=s.diff / slope, slope=s.slope / slope)


def merged(*tallies: Tally) -> Tally:
    return Tally(*(sum(getattr(t, f) for t in tallies) for f in ("hits", "trials", "sweeps")))


class Gates:
    """Targets checked with Monte Carlo slack: missed when outside by more than 2 MC SEs."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def between(self, name: str, t: Tally, low: float, high: float) -> str:
        ok = low - 2 * t.mcse <= t.rate <= high + 2 * t.mcse
        if not ok:
            self.missed.append(f"{name}: {t.rate:.3f} outside [{low}, {high}]")
        return f"{t.rate:6.3f}{'' if ok else '!'}"


def _row(label: str, cells: list[str]) -> str:
    return f"{label:<34}" + "".join(f"{c:>14}" for c in cells)


def _rates(tallies: list[Tally]) -> list[str]:
    return [f"{t.rate:6.3f}" for t in tallies]


COVERAGE = (
    ("difference at one size", "diff_cover"),
    ("difference over sizes", "pooled_cover"),
    ("slope per doubling", "slope_cover"),
)


def _coverage_rows(gates: Gates, cols: list[str], runs: list[list[Results]]) -> None:
    """One gated row per contrast; each column merges the runs listed for it."""
    for label, attr in COVERAGE:
        name = f"coverage, {label}"
        tallies = [merged(*(getattr(r, attr) for r in rs)) for rs in runs]
        cells = [
            gates.between(f"{name} ({c})", t, 0.93, 0.97)
            for c, t in zip(cols, tallies, strict=True)
        ]
        print(_row(name, cells))


def seed_sd_table(sims: int, integer: bool, seed: int, gates: Gates) -> None:
    sds = (0.0, 0.05, 0.1)
    alt = [run(calibrate(Scenario(sd, 0.3, MARGIN), integer), sims, integer, seed) for sd in sds]
    null = [run(Scenario(sd, 0.0, 0.0), sims, integer, seed + 1) for sd in sds]
    cols = [f"seed SD {sd:g}" for sd in sds]
    print(f"\n3 seeds per cell, independent seed effects ({sims} sweeps per truth and column)")
    print(_row("", cols))
    _coverage_rows(gates, cols, [[a, n] for a, n in zip(alt, null, strict=True)])
    power = _rates([a.a_wins for a in alt])
    power[1] = gates.between(f"power ({cols[1]})", alt[1].a_wins, 0.95, 1.0)
    print(_row("power, 0.3-point difference", power))
    fp = [gates.between(f"false positives ({c})", n.called, 0.0, 0.05)
          for c, n in zip(cols, null, strict=True)]  # fmt: skip
    print(_row("false positives, no difference", fp))
    rise = [gates.between(f"'plateau' | rising ({c})", a.plateau, 0.0, 0.05)
            for c, a in zip(cols, alt, strict=True)]  # fmt: skip
    print(_row("'plateau' | rising 0.1/doubling", rise))
    print(_row("'plateau' | flat", _rates([n.plateau for n in null])))
    print(_row("'rising'/'falling' | flat", _rates([n.trend for n in null])))
    print(_row("  same, prompt-only interval", _rates([n.prompt_only_trend for n in null])))


def seeds_for_power(sims: int, integer: bool, seed: int, sd: float = 0.1) -> None:
    print(f"\nSeeds per cell for power 0.95 at seed SD {sd} (0.3-point difference, one size)")
    for seeds in range(3, 13):
        s = calibrate(Scenario(sd, 0.3, MARGIN, seeds=seeds), integer)
        power = run(s, sims, integer, seed + seeds, slopes=False).a_wins
        print(_row(f"  {seeds} seeds per cell", [f"{power.rate:6.3f}", f"+-{power.mcse:.3f}"]))
        if power.rate >= 0.95:
            print(f"  -> {seeds} seeds per cell reach power 0.95")
            return
    print("  -> not reached with 12 seeds per cell")


def correlated_table(sims: int, integer: bool, seed: int, gates: Gates) -> None:
    rhos = (0.5, 0.9)
    print("\nSeed SD 0.1, one seed's effects correlated across sizes (nested subsets share data)")
    res = [run(calibrate(Scenario(0.1, 0.3, MARGIN, rho=r), integer), sims, integer, seed)
           for r in rhos]  # fmt: skip
    cols = [f"corr {r:g}" for r in rhos]
    print(_row("", cols))
    _coverage_rows(gates, cols, [[r] for r in res])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=2000, help="sweeps per scenario")
    parser.add_argument("--integer", action="store_true", help="scores rounded to 1..6")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start, gates = time.perf_counter(), Gates()
    scale = "integer 1-6" if args.integer else "continuous"
    print(f"Simulated sweeps: 2 arms x {len(SIZES)} sizes, 300 prompts x 5 samples, {scale}")
    seed_sd_table(args.sims, args.integer, args.seed, gates)
    seeds_for_power(args.sims, args.integer, args.seed + 100)
    correlated_table(args.sims, args.integer, args.seed + 200, gates)
    mcse = math.sqrt(0.0475 / args.sims)
    print(f"\n'!' marks a missed target. Monte Carlo SE of a rate near 0.95 over {args.sims} "
          f"sweeps: {mcse:.3f} (sweeps as the unit)")  # fmt: skip
    print(f"runtime {time.perf_counter() - start:.0f} s")
    for miss in gates.missed:
        print(f"MISSED {miss}")
    return 1 if gates.missed else 0


if __name__ == "__main__":
    sys.exit(main())
