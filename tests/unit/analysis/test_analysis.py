"""Known answers for ablate.analysis: contrasts, seed variance, verdicts, power law, checks."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as sps

from ablate.analysis import (
    MIN_SEEDS,
    Cell,
    Contrast,
    SweepMeans,
    VarianceParts,
    arm_difference,
    cell_group_mean,
    compare_arms,
    comparison_verdict,
    linear_contrast,
    power_law_fit,
    scaling_slope,
    seed_variance,
    slope_verdict,
    sweep_means,
    unscored_check,
    unscored_check_of,
)
from ablate.analysis.verdicts import _projected_half_width
from ablate.stats import Interval, holm, satterthwaite_df, summarize_scores

# Numerical warnings are errors here; a ResourceWarning is not about these estimators (it
# comes from garbage-collecting another test's open file, whenever that happens to run).
pytestmark = pytest.mark.filterwarnings("error", "ignore::ResourceWarning")

SIZES = (2000, 4000, 8000, 16000)


def make_sweep(
    rng: np.random.Generator,
    arms: dict[str, float],
    sizes: tuple[int, ...] = (1000,),
    seeds: int = 3,
    prompts: int = 40,
    seed_sd: float = 0.0,
    noise_sd: float = 0.3,
    slope: float = 0.0,
    prompt_sd: float = 0.7,
    shared_seed: bool = False,
) -> SweepMeans:
    """Prompt means: arm mean + slope * log2(n / n0) + prompt effect + seed effect + noise.
    ``shared_seed`` gives one seed the same effect at every size (fully correlated)."""
    effects = rng.normal(0, prompt_sd, prompts)
    keys, rows = [], []
    for arm, mean in arms.items():
        per_seed = rng.normal(0, seed_sd, seeds)
        for n in sizes:
            u = per_seed if shared_seed else rng.normal(0, seed_sd, seeds)
            for s in range(seeds):
                keys.append((arm, n, s))
                level = mean + slope * math.log2(n / sizes[0]) + u[s]
                rows.append(level + effects + rng.normal(0, noise_sd, prompts))
    return SweepMeans(tuple(keys), tuple(f"p{i}" for i in range(prompts)), np.array(rows))


def rows_of(sweep: SweepMeans, arm: str, n: int | None = None) -> np.ndarray:
    return sweep.means[sweep.rows(arm, n)]


# --- building the matrix ----------------------------------------------------------------------


def test_sweep_means_averages_scored_samples_and_marks_unscored_prompts() -> None:
    cells = [
        Cell("a", 100, 0, {"q1": [1, None, 3], "q2": [None, None], "q3": [4]}),
        Cell("b", 100, 0, {"q1": [2], "q3": [float("nan"), 6]}),
    ]
    sweep = sweep_means(cells)
    assert sweep.prompt_ids == ("q1", "q2", "q3")
    assert sweep.keys == (("a", 100, 0), ("b", 100, 0))
    np.testing.assert_allclose(sweep.means, [[2, np.nan, 4], [2, np.nan, 6]])
    with pytest.raises(ValueError, match="share one"):
        sweep_means([cells[0], cells[0]])
    with pytest.raises(ValueError, match="finite"):
        sweep_means([Cell("a", 1, 0, {"q": [math.inf]})])


def test_functions_take_cells_directly() -> None:
    rng = np.random.default_rng(25)
    cells = [
        Cell(arm, 500, seed, {f"q{i}": [float(x) for x in rng.integers(1, 7, 3)] for i in range(8)})
        for arm in ("a", "b")
        for seed in range(3)
    ]
    sweep = sweep_means(cells)
    assert cell_group_mean(cells[:3]) == cell_group_mean(sweep_means(cells[:3]))
    assert compare_arms(cells)[0].contrast == arm_difference(sweep, "a", "b", 500)


# --- one seed per cell: the prompt-only answer is the paired t-test ---------------------------


def test_one_seed_difference_is_the_paired_t_test_on_prompt_means() -> None:
    sweep = make_sweep(np.random.default_rng(1), {"a": 4.3, "b": 4.0}, seeds=1)
    sweep.means[0, 3] = np.nan  # a prompt unscored in one involved cell is left out
    c = arm_difference(sweep, "a", "b", 1000, confidence=0.9)
    keep = np.isfinite(sweep.means).all(axis=0)
    ref = sps.ttest_rel(sweep.means[0, keep], sweep.means[1, keep])
    ci = ref.confidence_interval(0.9)
    assert c.n_prompts == 39 and c.df == 38
    assert (c.estimate, c.low, c.high) == pytest.approx(
        (float(np.mean(sweep.means[0, keep] - sweep.means[1, keep])), ci.low, ci.high)
    )
    assert c.p_value == pytest.approx(ref.pvalue)
    assert not c.seed_variance_measured and c.seed_sd is None
    assert "training randomness not measured" in c.method


def test_one_seed_group_mean_is_the_t_interval_of_prompt_means() -> None:
    sweep = make_sweep(np.random.default_rng(2), {"a": 4.0}, seeds=1)
    c = cell_group_mean(sweep)
    ref = sps.ttest_1samp(sweep.means[0], 0.0).confidence_interval(0.95)
    assert (c.low, c.high) == pytest.approx((ref.low, ref.high))


def test_one_seed_slope_is_the_t_interval_of_per_prompt_slopes() -> None:
    sweep = make_sweep(np.random.default_rng(3), {"a": 4.0}, SIZES, seeds=1, slope=0.1)
    c = scaling_slope(sweep, "a")
    x = np.log2(SIZES)
    per_prompt = np.polyfit(x, sweep.means, 1)[0]  # each prompt's slope over the 4 cells
    ref = sps.ttest_1samp(per_prompt, 0.0)
    assert c.estimate == pytest.approx(np.polyfit(x, sweep.means.mean(axis=1), 1)[0])
    assert c.estimate == pytest.approx(per_prompt.mean())
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval(0.95)))


# --- seed variance ----------------------------------------------------------------------------


def anova_by_hand(y: np.ndarray) -> tuple[float, float]:
    """Two-way ANOVA without replication with explicit sums (seeds = rows)."""
    s, p = y.shape
    grand = sum(sum(r) for r in y) / (s * p)
    row = [sum(r) / p for r in y]
    col = [sum(y[i][j] for i in range(s)) / s for j in range(p)]
    ss_seed = p * sum((r - grand) ** 2 for r in row)
    ss_resid = sum((y[i][j] - row[i] - col[j] + grand) ** 2 for i in range(s) for j in range(p))
    return ss_seed / (s - 1), ss_resid / ((s - 1) * (p - 1))


def keys_of(arm: str, sizes: int, seeds: int) -> list[tuple[str, int, int]]:
    return [(arm, 1000 * 2**g, s) for g in range(sizes) for s in range(seeds)]


def test_one_size_seed_variance_is_the_anova_moment_estimate_pooled_by_seed_df() -> None:
    rng = np.random.default_rng(4)
    a = make_sweep(rng, {"a": 4.0}, seeds=3, prompts=30, seed_sd=0.4).means
    b = make_sweep(rng, {"b": 4.0}, seeds=5, prompts=30, seed_sd=0.4).means
    est = seed_variance(np.vstack([a, b]), keys_of("a", 1, 3) + keys_of("b", 1, 5))
    (ms_a, mr_a), (ms_b, mr_b) = anova_by_hand(a), anova_by_hand(b)
    assert (est.df_between, est.df_within, est.df) == (6, 0, 6)
    assert est.noise * 30 == pytest.approx((58 * mr_a + 116 * mr_b) / 174)
    # sigma_u^2 per arm is (MS_seed - MS_resid) / P; pooled with weights S - 1.
    assert est.cell_var == pytest.approx((2 * (ms_a - mr_a) + 4 * (ms_b - mr_b)) / 6 / 30)


def test_split_plot_mean_squares_by_hand() -> None:
    # One arm, 3 sizes x 4 seeds; the seed's effect is partly shared across its sizes.
    rng = np.random.default_rng(22)
    shared, own = rng.normal(0, 0.3, 4), rng.normal(0, 0.2, (3, 4))
    y = 4.0 + shared[None, :, None] + own[:, :, None] + rng.normal(0, 0.5, (3, 4, 25))
    est = seed_variance(y.reshape(12, 25), keys_of("a", 3, 4))
    cell = y.mean(axis=2)  # sizes x seeds
    ms_seed, ms_inter = anova_by_hand(cell.T)  # rows = seeds, columns = sizes
    noise = sum(anova_by_hand(y[g])[1] for g in range(3)) / 3 / 25
    assert (est.df_between, est.df_within, est.df_noise) == (3, 6, 3 * 3 * 24)
    assert est.between == pytest.approx(ms_seed / 3)
    assert est.within == pytest.approx(ms_inter)
    assert est.g_inv == pytest.approx(1 / 3) and est.noise == pytest.approx(noise)
    assert est.cell_var == pytest.approx(ms_seed / 3 + ms_inter * 2 / 3 - noise)


def test_split_plot_matches_reml_of_a_mixed_model() -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(23)
    shared, own = rng.normal(0, 0.5, 5), rng.normal(0, 0.2, (4, 5))
    cell = 4.0 + shared[None, :] + own + np.arange(4)[:, None] * 0.1  # sizes x seeds
    est = seed_variance(np.repeat(cell.reshape(20, 1), 2, axis=1), keys_of("a", 4, 5))
    data = pd.DataFrame(
        [(cell[g, s], f"n{g}", f"s{s}") for g in range(4) for s in range(5)],
        columns=["y", "size", "seed"],
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter
        fit = smf.mixedlm("y ~ C(size)", data, groups=data["seed"]).fit(reml=True)
    # Balanced: REML = the ANOVA moment estimates when they are positive.
    assert est.between - est.g_inv * est.within == pytest.approx(float(fit.cov_re.iloc[0, 0]),
                                                                 rel=1e-3)  # fmt: skip
    assert est.within == pytest.approx(float(fit.scale), rel=1e-3)


def test_negative_seed_estimate_is_reported_as_zero() -> None:
    # Noise centred within each seed: equal seed means, so the seeds' mean square is 0, below
    # its floor: the 5% point of its distribution when seeds do not matter, g_inv * noise *
    # chi2(2) / 2 (one size: g_inv = 1). Floored, se^2 = var_p(l_p) / P - W2 noise (1 - q).
    rng = np.random.default_rng(8)
    noise = rng.normal(0, 0.3, (3, 40))
    y = 4.0 + rng.normal(0, 0.7, 40) + noise - noise.mean(axis=1, keepdims=True)
    sweep = SweepMeans(tuple(("a", 10, s) for s in range(3)), tuple(map(str, range(40))), y)
    assert seed_variance(y, sweep.keys).cell_var == 0.0
    c = cell_group_mean(sweep)
    assert c.seed_variance_measured and c.seed_sd == 0.0 and c.seed_var == 0.0
    assert "seed variance estimated 0" in c.method
    v_prompt = y.mean(axis=0).var(ddof=1) / 40
    w2_noise = 3 * (1 / 3) ** 2 * anova_by_hand(y)[1] / 40
    q = sps.chi2.ppf(0.05, 2) / 2
    # The floored between-seed term stands on the noise estimate and its 78 df.
    terms = [(v_prompt, 39), (-w2_noise, 78), (q * w2_noise, 78)]
    df = satterthwaite_df(terms)
    half = sps.t.ppf(0.975, df) * math.sqrt(sum(v for v, _ in terms))
    assert (c.low, c.high, c.df) == pytest.approx((y.mean() - half, y.mean() + half, df))


def test_a_fluke_low_seed_mean_square_does_not_collapse_the_interval() -> None:
    """2 seeds x 2 sizes: the between-seed mean square has 2 df and can fall far below what
    the noise alone implies; floored at its null 5% point, the pooled difference keeps a
    finite interval that covers the truth and is no narrower than that floor allows. (It is
    wide here: the prompt part is a near-zero difference of two mean squares, whose
    Satterthwaite df falls below 1; wide is the honest side of not knowing.)"""
    rng = np.random.default_rng(3)
    keys = tuple((a, n, s) for a in ("x", "y") for n in (64, 128) for s in (0, 1))
    prompt = rng.normal(0, 0.7, 40)
    means = np.array([3 + (a == "x") * 0.3 + prompt + rng.normal(0, 0.7, 40) for a, _, _ in keys])
    seeds = means.mean(axis=1, keepdims=True)
    # Force the fluke: every cell's mean equal within an arm (the seeds' mean square ~ 0).
    means = means - seeds + np.array([[3.3 if k[0] == "x" else 3.0] for k in keys])
    sweep = SweepMeans(keys, tuple(map(str, range(40))), means)
    c = arm_difference(sweep, "x", "y")
    assert math.isfinite(c.low) and math.isfinite(c.high)
    assert c.low < 0.3 < c.high
    sv = sweep.seed_variance
    assert sv.between == pytest.approx(0.0, abs=1e-12)
    floor = sv.g_inv * sv.noise * sps.chi2.ppf(0.05, sv.df_between) / sv.df_between
    q = 2 * 2 * (2 * (1 / 4)) ** 2  # (arm, seed) pairs x (their weight 1/4 at each of 2 sizes)^2
    assert c.parts.cells == pytest.approx(q * floor)
    assert c.se >= math.sqrt(q * floor)


# --- seed-aware contrasts with a hand answer --------------------------------------------------


def test_noise_free_difference_is_the_two_sample_t_test_on_seed_means() -> None:
    # X = arm mean + seed effect + prompt effect exactly: the prompt part cancels, and the
    # contrast is a pooled-variance two-sample t over the seeds' means (df 2 + 2).
    sweep = make_sweep(
        np.random.default_rng(9), {"a": 4.3, "b": 4.0}, seeds=3, seed_sd=0.2, noise_sd=0.0
    )
    c = arm_difference(sweep, "a", "b", 1000)
    ma, mb = rows_of(sweep, "a").mean(axis=1), rows_of(sweep, "b").mean(axis=1)
    ref = sps.ttest_ind(ma, mb, equal_var=True)
    assert c.df == pytest.approx(4)
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert c.p_value == pytest.approx(ref.pvalue)
    assert c.seed_sd == pytest.approx(math.sqrt((ma.var(ddof=1) + mb.var(ddof=1)) / 2))
    assert c.n_seeds == 3 and c.prompt_var == pytest.approx(0.0, abs=1e-20)


def test_noise_free_group_mean_adds_prompt_and_seed_parts() -> None:
    sweep = make_sweep(np.random.default_rng(10), {"a": 4.0}, seeds=4, seed_sd=0.3, noise_sd=0)
    c = cell_group_mean(sweep, "a", 1000)
    y = sweep.means
    v_prompt = y.mean(axis=0).var(ddof=1) / 40
    v_seed = y.mean(axis=1).var(ddof=1) / 4  # sigma_u^2 / S, residual MS is 0
    df = satterthwaite_df([(v_prompt, 39), (v_seed, 3)])
    half = sps.t.ppf(0.975, df) * math.sqrt(v_prompt + v_seed)
    assert c.estimate == pytest.approx(y.mean())
    assert (c.low, c.high, c.df) == pytest.approx((y.mean() - half, y.mean() + half, df))


def test_seed_variance_is_pooled_over_the_whole_sweep() -> None:
    sweep = make_sweep(np.random.default_rng(11), {"a": 4.2, "b": 4.0}, SIZES, seed_sd=0.2)
    c = arm_difference(sweep, "a", "b", 4000)
    assert c.seed_df == 2 * 4 * 2  # 8 groups of 3 seeds
    alone = SweepMeans(
        tuple(k for k in sweep.keys if k[1] == 4000), sweep.prompt_ids,
        sweep.means[[i for i, k in enumerate(sweep.keys) if k[1] == 4000]],
    )  # fmt: skip
    own = arm_difference(alone, "a", "b", 4000)
    assert own.seed_df == 4 and own.estimate == pytest.approx(c.estimate)


def test_seeds_widen_the_interval_beyond_prompts_alone() -> None:
    sweep = make_sweep(np.random.default_rng(12), {"a": 4.3, "b": 4.0}, SIZES, seed_sd=0.3)
    c = arm_difference(sweep, "a", "b", 2000)
    prompt_only = sps.t.ppf(0.975, c.n_prompts - 1) * math.sqrt(c.prompt_var)
    assert (c.high - c.low) / 2 > 2 * prompt_only
    assert c.seed_var > 0 and c.n_prompts - 1 > c.df >= 2


def test_difference_over_sizes_counts_a_shared_seed_effect_once() -> None:
    # One seed's effect is the same at every size (nested subsets): only 3 independent draws
    # per arm, so the interval is the two-sample t over the (arm, seed) means, not over cells.
    sweep = make_sweep(
        np.random.default_rng(13), {"a": 4.3, "b": 4.0}, SIZES, seed_sd=0.2, noise_sd=0.0,
        shared_seed=True,
    )  # fmt: skip
    c = arm_difference(sweep, "a", "b")
    per_size = [arm_difference(sweep, "a", "b", n).estimate for n in SIZES]
    assert c.estimate == pytest.approx(np.mean(per_size))
    unit = {
        arm: [sweep.means[[i for i, k in enumerate(sweep.keys) if k[0] == arm and k[2] == s]]
              .mean() for s in range(3)]
        for arm in ("a", "b")
    }  # fmt: skip
    ref = sps.ttest_ind(unit["a"], unit["b"])
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert c.df == pytest.approx(4) and c.seed_df == 16


def test_a_shared_seed_effect_cancels_in_a_slope() -> None:
    sweep = make_sweep(
        np.random.default_rng(24), {"a": 4.0}, SIZES, seed_sd=0.3, noise_sd=0.0, slope=0.1,
        shared_seed=True,
    )  # fmt: skip
    c = scaling_slope(sweep, "a")
    assert (c.estimate, c.low, c.high) == pytest.approx((0.1, 0.1, 0.1))


def test_contrast_rejects_bad_input() -> None:
    sweep = make_sweep(np.random.default_rng(14), {"a": 4.0, "b": 4.0}, (1000, 2000))
    with pytest.raises(ValueError, match="no cell"):
        arm_difference(sweep, "a", "c", 1000)
    with pytest.raises(ValueError, match="2 or more sizes"):
        scaling_slope(make_sweep(np.random.default_rng(1), {"a": 4.0}), "a")
    with pytest.raises(ValueError, match="several sizes"):
        cell_group_mean(sweep, "a")
    with pytest.raises(ValueError, match="confidence"):
        linear_contrast(sweep.means, np.ones(len(sweep.keys)), sweep.keys, 95)
    empty = np.full_like(sweep.means, np.nan)
    with pytest.raises(ValueError, match="2 prompts"):
        linear_contrast(empty, np.ones(len(sweep.keys)), sweep.keys)


# --- Holm, Satterthwaite ----------------------------------------------------------------------


def test_holm_by_hand_and_against_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == [] and holm([0.7]) == [0.7] and holm([0.6, 0.5]) == [1.0, 1.0]
    with pytest.raises(ValueError):
        holm([1.2])
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    q = np.random.default_rng(15).random(12) ** 3
    assert holm(q) == pytest.approx(multitest.multipletests(q, method="holm")[1])


def test_satterthwaite_df_by_hand_and_as_welch() -> None:
    assert satterthwaite_df([(1.0, 10), (2.0, 20)]) == pytest.approx(9 / (0.1 + 0.2))
    assert satterthwaite_df([(1.0, 10), (0.0, 1)]) == pytest.approx(10)
    assert satterthwaite_df([]) == math.inf
    rng = np.random.default_rng(16)
    a, b = rng.normal(0, 1, 8), rng.normal(0, 3, 15)
    welch = sps.ttest_ind(a, b, equal_var=False).df
    parts = [(a.var(ddof=1) / 8, 7), (b.var(ddof=1) / 15, 14)]
    assert satterthwaite_df(parts) == pytest.approx(welch)


# --- verdicts ---------------------------------------------------------------------------------


def contrast(estimate: float, low: float, high: float, p: float = 0.5, **kw: object) -> Contrast:
    """A constructed contrast for the rules: 3 seeds per cell, 300 prompts, 16 seed df, a
    prompt x condition part of 5.6e-5 and the rest from seeds (prompt noise 4.4e-5)."""
    se = (high - low) / 3.92
    cond, noise = 5.6e-5, 4.4e-5
    cells = max(0.0, se**2 - cond)
    parts = VarianceParts(cond, 299.0, cells, 16.0, noise)
    base = Contrast(
        estimate, low, high, se, 20.0, p, 300, 3, 0.05, True, "t", 0.95, cond + noise,
        max(0.0, cells - noise), 16, parts,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("estimate", "p", "kind", "label"),
    [(0.3, 0.001, "difference", "a beats b"), (-0.3, 0.001, "difference", "b beats a"),
     (0.1, 0.2, "no difference", "no detectable difference"),
     (0.1, 0.05, "no difference", "no detectable difference")],
)  # fmt: skip
def test_comparison_rule(estimate: float, p: float, kind: str, label: str) -> None:
    v = comparison_verdict(contrast(estimate, estimate - 0.1, estimate + 0.1, p), "a", "b")
    assert (v.kind, v.label) == (kind, label)
    assert v.text.startswith(label) and "interval" in v.text


def test_comparison_uses_the_adjusted_p_value() -> None:
    c = contrast(0.3, 0.05, 0.55, p=0.02)
    assert comparison_verdict(c, "a", "b").kind == "difference"
    held = comparison_verdict(c, "a", "b", p_adjusted=0.06, n_tests=3)
    assert held.kind == "no difference" and "Holm-adjusted over 3" in held.text


def test_compare_arms_holm_adjusts_over_the_comparisons_made() -> None:
    sweep = make_sweep(np.random.default_rng(17), {"a": 4.3, "b": 4.0, "c": 4.05}, seeds=3)
    verdicts = compare_arms(sweep, n_examples=1000)
    assert [v.contrast.estimate for v in verdicts] == pytest.approx(
        [arm_difference(sweep, x, y, 1000).estimate for x, y in (("a", "b"), ("a", "c"),
                                                                 ("b", "c"))]
    )  # fmt: skip
    assert [v.p_adjusted for v in verdicts] == pytest.approx(
        holm([v.contrast.p_value for v in verdicts])
    )
    assert verdicts[0].label == "a beats b"
    against = compare_arms(sweep, n_examples=1000, reference="b")
    assert [v.label.split()[0] for v in against] == ["a", "no"] or len(against) == 2
    assert "over 2 comparisons" in against[0].text


@pytest.mark.parametrize(
    ("low", "high", "kind"),
    [(0.02, 0.2, "rising"), (-0.2, -0.01, "falling"), (-0.06, 0.08, "plateau"),
     (-0.1, 0.1, "plateau"), (-0.05, 0.12, "inconclusive"), (-0.3, 0.3, "inconclusive")],
)  # fmt: skip
def test_slope_rules(low: float, high: float, kind: str) -> None:
    v = slope_verdict(contrast((low + high) / 2, low, high), margin=0.1)
    assert v.kind == kind and v.text.startswith(kind)


def test_overlapping_intervals_never_make_a_plateau() -> None:
    # Contains 0, but reaches past the margin: inconclusive, with a projection.
    v = slope_verdict(contrast(0.02, -0.09, 0.13), margin=0.1)
    assert v.kind == "inconclusive"
    assert v.seeds_needed is not None and v.seeds_needed > 3
    assert v.prompts_needed is None  # seed variance dominates: prompts alone cannot do it
    assert f"{v.seeds_needed - 3} more seeds per cell" in v.text
    assert "more prompts alone would not be enough" in v.text


def test_projection_fits_the_margin_exactly_at_the_seeds_it_names() -> None:
    c = contrast(0.02, -0.09, 0.13)
    v = slope_verdict(c, margin=0.1)
    assert v.seeds_needed is not None
    room = 0.1 - 0.02
    assert _projected_half_width(c, v.seeds_needed, 300) <= room
    assert _projected_half_width(c, v.seeds_needed - 1, 300) > room


def test_projection_at_the_current_design_reproduces_the_current_width() -> None:
    sweep = make_sweep(np.random.default_rng(18), {"a": 4.0}, SIZES, seed_sd=0.1, noise_sd=1)
    c = scaling_slope(sweep, "a")
    assert _projected_half_width(c, 3, c.n_prompts) == pytest.approx((c.high - c.low) / 2, rel=0.02)


def test_prompt_noise_dominated_slope_asks_for_prompts() -> None:
    var = (0.24 / 3.92) ** 2  # all of it prompts x condition; the seeds agreed (cells = noise)
    parts = VarianceParts(var - 1e-5, 299.0, 1e-5, 16.0, 1e-5)
    c = contrast(0.0, -0.12, 0.12, seed_var=0.0, seed_sd=0.0, parts=parts)
    v = slope_verdict(c, margin=0.1)
    assert v.kind == "inconclusive" and v.prompts_needed is not None
    # V scales as 1/P: (0.12 / 0.1)^2 * 300 = 432 prompts, give or take the t quantile.
    assert 400 <= v.prompts_needed <= 470


def test_estimate_outside_the_margin_gets_no_projection() -> None:
    v = slope_verdict(contrast(0.15, -0.01, 0.31), margin=0.1)
    assert v.kind == "inconclusive" and v.seeds_needed is None
    assert "lies outside" in v.text


def test_one_seed_verdicts_say_training_randomness_is_not_measured() -> None:
    sweep = make_sweep(np.random.default_rng(19), {"a": 4.0}, SIZES, seeds=1, noise_sd=1.0)
    v = slope_verdict(scaling_slope(sweep, "a"))
    assert "training randomness is not measured" in v.text
    assert f"at least {MIN_SEEDS} seeds" in v.text and v.seeds_needed == MIN_SEEDS
    (d,) = compare_arms(make_sweep(np.random.default_rng(20), {"a": 4, "b": 4}, seeds=1))
    assert "training randomness is not measured" in d.text


def test_bad_margin_is_rejected() -> None:
    with pytest.raises(ValueError, match="margin"):
        slope_verdict(contrast(0.0, -0.1, 0.1), margin=0)


# --- power law --------------------------------------------------------------------------------


def test_power_law_recovers_a_planted_exponent_exactly() -> None:
    n = np.repeat([1000, 2000, 4000, 8000], 3)
    fit = power_law_fit(n, 5.0 * n**-0.3)
    assert (fit.prefactor, fit.exponent) == pytest.approx((5.0, 0.3))
    assert fit.low == pytest.approx(0.3) and fit.high == pytest.approx(0.3)
    accuracy = power_law_fit(n, 0.01 * n ** (1 / 2.5))  # arXiv 2410.03717: P ~ D^(1/b)
    assert accuracy.exponent == pytest.approx(-1 / 2.5)


def test_power_law_interval_is_the_regression_t_interval_in_log_log() -> None:
    rng = np.random.default_rng(21)
    n = np.repeat([1000, 2000, 4000, 8000], 3)
    loss = 5.0 * n**-0.3 * np.exp(rng.normal(0, 0.02, n.size))
    fit = power_law_fit(n, loss, confidence=0.9)
    ref = sps.linregress(np.log(n), np.log(loss))
    half = sps.t.ppf(0.95, n.size - 2) * ref.stderr
    assert (fit.exponent, fit.se) == pytest.approx((-ref.slope, ref.stderr))
    assert (fit.low, fit.high) == pytest.approx((-ref.slope - half, -ref.slope + half))
    assert fit.df == 10 and fit.n_sizes == 4 and "seed scatter" in fit.method
    assert fit.lack_of_fit_p is not None


def test_power_law_with_two_sizes() -> None:
    exact = power_law_fit([1000, 4000], [2.0, 1.0])
    assert exact.exponent == pytest.approx(0.5)
    assert math.isnan(exact.low) and exact.df == 0 and "exact" in exact.method
    seeded = power_law_fit([1000] * 3 + [4000] * 3, [2.0, 2.1, 1.9, 1.0, 1.05, 0.95])
    assert seeded.low < seeded.exponent < seeded.high and seeded.df == 4


def test_power_law_lack_of_fit_detects_a_bent_curve() -> None:
    n = np.repeat([1000, 2000, 4000, 8000, 16000], 2)
    bend = np.array([0.0, 0.0, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.0, 0.0])
    jitter = np.tile([0.001, -0.001], 5)
    fit = power_law_fit(n, np.exp(1.0 - 0.3 * np.log(n) + bend + jitter))
    assert fit.lack_of_fit_p is not None and fit.lack_of_fit_p < 1e-3
    straight = power_law_fit(n, np.exp(1.0 - 0.3 * np.log(n) + jitter))
    assert straight.lack_of_fit_p == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("n", "v"), [([1, 2], [1.0, 0.0]), ([5, 5], [1.0, 2.0]), ([1], [1, 2]), ([-1, -2], [-1, -2])]
)
def test_power_law_rejects_bad_input(n: list[float], v: list[float]) -> None:
    with pytest.raises(ValueError):
        power_law_fit(n, v)


# --- unscored check ---------------------------------------------------------------------------


def test_unscored_check_flags_a_gap_over_half_the_width() -> None:
    pooled = Interval(4.0, 3.9, 4.1, "cluster-bootstrap", 0.95)
    assert not unscored_check(pooled, 4.09).flagged
    flagged = unscored_check(pooled, 4.11)
    assert flagged.flagged and "may not be missing at random" in flagged.text
    nan = unscored_check(Interval(4.0, math.nan, math.nan, "t", 0.95), 4.5)
    assert not nan.flagged and "not checked" in nan.text


def test_unscored_check_of_a_summary_with_unscored_hard_prompts() -> None:
    # Hard prompts (score 1) lose 4 of 5 replies: the pooled mean overweights easy prompts.
    data = [[5.0] * 5 for _ in range(20)] + [[1.0, None, None, None, None] for _ in range(20)]
    check = unscored_check_of(summarize_scores(data, n_resamples=500))
    assert check.prompt_mean == pytest.approx(3.0)
    assert check.pooled_mean == pytest.approx((100 * 5 + 20) / 120)
    assert check.flagged


def test_clipped_cuts_an_interval_to_the_values_that_exist_and_says_so() -> None:
    from ablate.analysis.contrasts import clipped

    c = cell_group_mean([Cell("a", 8, 0, {"p1": [1.0], "p2": [1.0], "p3": [0.0]})])
    assert c.low < 0.0 and c.high > 1.0  # 0.67 +- 1.43: a t interval over 3 prompts
    cut = clipped(c, 0.0, 1.0)
    assert (cut.low, cut.high, cut.estimate, cut.p_value) == (0.0, 1.0, c.estimate, c.p_value)
    assert cut.method == f"{c.method}; cut to [0, 1]"
    assert clipped(c, -1.0, 3.0) is c  # nothing to cut: nothing said
    assert clipped(c, 0.9, 1.0) is c  # an estimate outside: values of another kind
    count = clipped(Interval(2.0, -1.0, 5.0, "t", 0.95), 0.0)
    assert count == Interval(2.0, 0.0, 5.0, "t; cut at 0", 0.95)


def test_a_heldout_loss_interval_stays_at_or_above_zero() -> None:
    """Most prompts' references nearly memorised, one far off, two seeds: the t interval of the
    mean loss per token would reach below 0; a cross-entropy's is cut there."""
    from ablate.analysis.sweep import Design, TrialData, analyze_sweep

    def trial(seed: int) -> TrialData:
        losses = {f"p{i}": (0.01 * 10, 10) for i in range(7)} | {"p7": (40.0 + seed, 10)}
        scores: dict[str, list[float | None]] = {p: [3.0, 3.5] for p in losses}
        return TrialData("a", 64, seed, scores, None, losses)

    analysis = analyze_sweep([trial(0), trial(1)], Design(["a"], [64], [0, 1]))
    point = analysis.point("a", 64)
    assert point is not None and point.heldout is not None
    assert 0 < point.heldout.estimate < 1
    assert point.heldout.low == 0.0 < point.heldout.high
    assert "cut" in point.heldout.method
