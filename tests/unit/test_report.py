"""The report renders a sweep's analysis: files, CSV headers, intervals, missing cells, figures.

Simulated judge scores only (no training): analyze_sweep on small TrialData sets."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import pytest

from ablate.analysis.sweep import Design, TrialData, analyze_sweep
from ablate.report import (
    CELL_COLUMNS,
    COMPARISON_COLUMNS,
    FIT_COLUMNS,
    ArmInfo,
    ReportContext,
    ReportFiles,
    TrialRow,
    verdict_lines,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHIFT = {"filtered": 0.4, "unfiltered": 0.0}


def _trial(arm: str, n: int, seed: int, rng: random.Random) -> TrialData:
    prompts = [f"p{i}" for i in range(30)]
    scores = {
        p: [
            min(6.0, max(1.0, 3 + SHIFT.get(arm, 0.0) + rng.gauss(0, 1)))
            if rng.random() > 0.03
            else None
            for _ in range(2)
        ]
        for p in prompts
    }
    held = {p: (rng.uniform(40, 60) * n**-0.1, 10) for p in prompts}
    loss = sum(s for s, _ in held.values()) / sum(t for _, t in held.values())
    return TrialData(arm, n, seed, scores, loss, held, {})


def _row(t: TrialData | None, key: tuple[str, int, int]) -> TrialRow:
    if t is None:
        nothing = (None, None, None, None, None, None, None)
        return TrialRow(*key, "failed at train: out of memory", *nothing, [])
    flat = [s for v in t.scores.values() for s in v]
    unscored = sum(s is None for s in flat) / len(flat)
    mean = sum(s for s in flat if s is not None) / (len(flat) * (1 - unscored))
    loss = t.heldout_loss or 0.0
    return TrialRow(
        *key, "done", mean, mean - 0.2, mean + 0.2, loss, loss - 0.01, loss + 0.01, unscored, []
    )


def _context(
    arms: list[str], sizes: list[int], seeds: list[int], drop: set[tuple[str, int, int]]
) -> ReportContext:
    """A sweep of arms x sizes x seeds with the ``drop`` trials not done."""
    rng = random.Random(0)
    keys = [(a, n, s) for a in arms for n in sizes for s in seeds]
    done = {k: _trial(*k, rng) for k in keys if k not in drop}
    analysis = analyze_sweep(list(done.values()), Design(arms, sizes, seeds))
    curves = {
        k: [
            (
                step,
                2.5 * math.exp(-step / (20 + k[1] / 8)) + 0.8 - SHIFT.get(k[0], 0.2) + 0.05 * k[2],
            )
            for step in range(0, 60, 3)
        ]
        for k in done
    }
    return ReportContext(
        sweep="quantity-test",
        judge_name="openai",
        judge_model="judge-model-1",
        judge_mode="likert",
        arms=[ArmInfo(a, f"{a}-pool", f"{a} records from stackexchange, 300 kept") for a in arms],
        analysis=analysis,
        trials=[_row(done.get(k), k) for k in keys],
        accounting={"judge_calls": 480.0, "judge_cache_hits": 12.0, "judge_retries": 1.0},
        loss_curves=curves,
        not_measured=["protocol deviation: 30 evaluation prompts instead of 300"],
        generated_at="2025-01-01T00:00:00+00:00",
    )


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


def _check_files(files: ReportFiles) -> str:
    for path in (files.markdown, files.comparisons, files.fits, files.cells, *files.pngs):
        assert path.is_file(), path
    assert _header(files.comparisons) == COMPARISON_COLUMNS
    assert _header(files.fits) == FIT_COLUMNS
    assert _header(files.cells) == CELL_COLUMNS
    for row in _csv(files.comparisons):
        low, diff, high = float(row["low"]), float(row["diff"]), float(row["high"])
        assert all(math.isfinite(x) for x in (low, diff, high))
        assert low <= diff <= high
    for png in files.pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC
        assert 10_000 < len(data) < 2_000_000
    assert not list(files.folder.glob(".*.tmp"))  # no temporary file left behind
    return files.markdown.read_text()


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportContext, ReportFiles]:
    ctx = _context(["filtered", "unfiltered"], [64, 128], [0, 1], set())
    return ctx, write_report(ctx, tmp_path_factory.mktemp("full"))


def test_full_sweep_files_and_sections(full: tuple[ReportContext, ReportFiles]) -> None:
    ctx, files = full
    text = _check_files(files)
    assert [p.name for p in files.pngs] == [
        "scaling_curve.png",
        "differences.png",
        "training_loss.png",
    ]
    for section in ("## Question", "## Arms", "## Comparisons", "## What was not measured"):
        assert section in text
    assert "Does the arm change the judge score" in text
    assert "protocol deviation: 30 evaluation prompts instead of 300" in text
    for c in ctx.analysis.comparisons:
        assert c.verdict.text in text
    for f in ctx.analysis.fits:
        assert f.text in text
    assert "missing" not in text.split("## Comparisons")[0]  # every cell done
    assert "unknown (no prices declared" in text  # cost absent: said, not shown as 0


def test_full_sweep_csv_rows(full: tuple[ReportContext, ReportFiles]) -> None:
    ctx, files = full
    rows = _csv(files.comparisons)
    assert len(rows) == len(ctx.analysis.comparisons) == 3
    assert [r["n_examples"] for r in rows] == ["64", "128", ""]  # pooled: empty size
    fits = _csv(files.fits)
    assert {(r["arm"], r["metric"]) for r in fits} == {
        (a, m) for a in ("filtered", "unfiltered") for m in ("judge_mean", "heldout_loss")
    }
    cells = _csv(files.cells)
    assert len(cells) == 4 and all(c["seeds"] == "0 1" for c in cells)
    assert all(
        float(c["judge_low"]) <= float(c["judge_mean"]) <= float(c["judge_high"]) for c in cells
    )


def test_renders_deterministically(full: tuple[ReportContext, ReportFiles], tmp_path: Path) -> None:
    ctx, files = full
    again = write_report(ctx, tmp_path)
    for a, b in zip(
        (files.markdown, files.comparisons, files.fits, files.cells, *files.pngs),
        (again.markdown, again.comparisons, again.fits, again.cells, *again.pngs),
        strict=True,
    ):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_partly_finished_names_missing_cells(tmp_path: Path) -> None:
    drop = {("unfiltered", 128, 0), ("unfiltered", 128, 1), ("filtered", 128, 1)}
    ctx = _context(["filtered", "unfiltered"], [64, 128], [0, 1], drop)
    files = write_report(ctx, tmp_path)
    text = _check_files(files)
    assert "unfiltered/n=128/seed 0 (failed at train: out of memory)" in text
    assert "filtered/n=128/seed 1" in text
    assert "| **unfiltered** |" in text and "| missing |" in text
    assert "1 seed of 2" in text
    cells = {(c["arm"], c["n_examples"]): c for c in _csv(files.cells)}
    assert cells[("unfiltered", "128")]["seeds"] == ""
    assert cells[("filtered", "128")]["seeds"] == "0"


def test_one_arm_one_size_one_seed(tmp_path: Path) -> None:
    ctx = _context(["filtered"], [64], [0], set())
    files = write_report(ctx, tmp_path)
    text = _check_files(files)
    assert [p.name for p in files.pngs] == ["scaling_curve.png", "training_loss.png"]
    assert "differences.png not drawn" in text
    assert "training randomness is not measured" in text
    assert "the sweep has one size" in text
    assert "No scaling fit" in text
    assert _csv(files.comparisons) == [] and _csv(files.fits) == []


def test_no_done_trial(tmp_path: Path) -> None:
    drop = {(a, n, s) for a in ("filtered", "unfiltered") for n in (64, 128) for s in (0, 1)}
    ctx = _context(["filtered", "unfiltered"], [64, 128], [0, 1], drop)
    (tmp_path / "differences.png").write_bytes(PNG_MAGIC)  # left by an earlier report
    files = write_report(ctx, tmp_path)
    text = _check_files(files)
    assert files.pngs == []
    assert not (tmp_path / "differences.png").exists()  # a stale figure would contradict
    assert "no trial is done yet" in text
    assert text.count("not drawn") >= 3
    assert "8 planned trial(s) not done" in text
    assert verdict_lines(ctx.analysis) == []


def test_verdict_lines_largest_size_pooled_and_fits(
    full: tuple[ReportContext, ReportFiles],
) -> None:
    ctx, _ = full
    lines = verdict_lines(ctx.analysis)
    whats = [w for w, _, _ in lines]
    assert whats[:2] == ["filtered - unfiltered @ n=128", "filtered - unfiltered @ all sizes"]
    assert len(lines) == 2 + len(ctx.analysis.fits)
    for _, word, numbers in lines:
        assert word and ("[" in numbers or "no interval" in numbers)


def test_three_arms_show_holm(tmp_path: Path) -> None:
    ctx = _context(["filtered", "unfiltered", "mixed"], [64, 128], [0, 1], set())
    files = write_report(ctx, tmp_path)
    text = _check_files(files)
    assert "p (Holm)" in text and "Holm-adjusted together" in text
    assert all(r["p_holm"] for r in _csv(files.comparisons))


# --- Length-adjusted comparisons -------------------------------------------------------------

CONTRACT = [
    "arm",
    "baseline",
    "n_examples",
    "diff",
    "low",
    "high",
    "n_prompts",
    "n_seeds",
    "method",
]
LENGTH_COLUMNS = ["diff_length_adjusted", "low_length_adjusted", "high_length_adjusted"]


def _long_trial(arm: str, n: int, seed: int, rng: random.Random) -> TrialData:
    """The judge gives 0.01 points per token; arm "long" writes 60 more tokens, no better."""
    scores: dict[str, list[float | None]] = {}
    lengths: dict[str, list[float | None]] = {}
    for i in range(30):
        tokens = [round(100 + 60 * (arm == "long") + 5 * (i % 5) + rng.gauss(0, 20)) for _ in "ab"]
        lengths[f"p{i}"] = [float(t) for t in tokens]
        scores[f"p{i}"] = [3 + 0.01 * t + rng.gauss(0, 0.3) for t in tokens]
    return TrialData(arm, n, seed, scores, None, None, {}, lengths)


@pytest.fixture(scope="module")
def lengthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportContext, ReportFiles]:
    ctx = _context(["long", "short"], [64, 128], [0, 1, 2], set())
    rng = random.Random(0)
    trials = [
        _long_trial(a, n, s, rng) for a in ("long", "short") for n in (64, 128) for s in (0, 1, 2)
    ]
    analysis = analyze_sweep(trials, ctx.analysis.design)
    ctx = ReportContext(**{**ctx.__dict__, "analysis": analysis})
    return ctx, write_report(ctx, tmp_path_factory.mktemp("lengthy"))


def test_the_comparisons_csv_keeps_its_contract_and_adds_length_columns() -> None:
    assert COMPARISON_COLUMNS[:9] == CONTRACT
    assert COMPARISON_COLUMNS[9:12] == ["p_value", "p_holm", "verdict"]
    assert COMPARISON_COLUMNS[12:16] == [*LENGTH_COLUMNS, "length_share"]


def test_a_pure_length_win_is_flagged(lengthy: tuple[ReportContext, ReportFiles]) -> None:
    ctx, files = lengthy
    text = _check_files(files)
    rows = _csv(files.comparisons)
    assert len(rows) == 3
    for row in rows:
        assert row["verdict"] == "long beats short" and float(row["low"]) > 0
        diff, low, high = (float(row[c]) for c in LENGTH_COLUMNS)
        assert low <= diff <= high and low < 0 < high
        assert float(row["length_diff_low"]) > 40 and row["length_flag"] == "mostly length"
        assert 0.5 < float(row["length_share"]) < 1.5
    assert "length-adjusted [interval]" in text and "tokens, arm - baseline" in text
    assert "long beats short; mostly length" in text
    assert 'a comparison is "mostly length" when' in text  # the rule, stated
    assert "Mean response tokens of the scored responses" in text
    slope = ctx.analysis.length_slope
    assert slope is not None and f"{slope.slope:+.3g} points per token" in text
    for _, word, numbers in verdict_lines(ctx.analysis)[:2]:
        assert "mostly length" in word and "length-adjusted" in numbers


def test_without_lengths_the_columns_are_empty_and_the_report_says_why(
    full: tuple[ReportContext, ReportFiles],
) -> None:
    _, files = full
    text = files.markdown.read_text()
    assert all(r[c] == "" for r in _csv(files.comparisons) for c in COMPARISON_COLUMNS[12:])
    assert "Not adjusted for response length: 8 done trial(s) have no response lengths" in text


def _pairwise_trial(arm: str, n: int, seed: int, rng: random.Random) -> TrialData:
    """Pairwise against references of 100 + 4i tokens: the judge prefers the longer answer;
    arm "long" writes 150 more tokens and is no better (win / tie / lose as 1 / 0.5 / 0)."""
    scores: dict[str, list[float | None]] = {}
    lengths: dict[str, list[float | None]] = {}
    for i in range(40):
        tokens = [round(100 + 4 * i + 150 * (arm == "long") + rng.gauss(0, 40)) for _ in "abc"]
        ease = 0.8 * math.sin(i)
        wins = [1 / (1 + math.exp(-(ease + math.tanh((t - 100 - 4 * i) / 50)))) for t in tokens]
        lengths[f"p{i}"] = [float(t) for t in tokens]
        scores[f"p{i}"] = [0.5 if rng.random() < 0.2 else float(rng.random() < w) for w in wins]
    references = {f"p{i}": 100.0 + 4 * i for i in range(40)}
    return TrialData(arm, n, seed, scores, None, None, {}, lengths, reference_lengths=references)


def test_a_pairwise_report_gives_the_lc_win_rate_beside_the_raw_one(tmp_path: Path) -> None:
    ctx = _context(["long", "short"], [64, 128], [0, 1, 2], set())
    rng = random.Random(3)
    trials = [_pairwise_trial(a, n, s, rng) for a in ("long", "short") for n in (64, 128)
              for s in (0, 1, 2)]  # fmt: skip
    design = Design(["long", "short"], [64, 128], [0, 1, 2], pairwise=True)
    ctx = ReportContext(**{**ctx.__dict__, "analysis": analyze_sweep(trials, design),
                           "judge_mode": "pairwise"})  # fmt: skip
    files = write_report(ctx, tmp_path)
    text = _check_files(files)
    assert "### Length-controlled win rate (AlpacaEval)" in text
    assert "LC win rate difference [interval]" in text and "Length preference phi: +" in text
    rows = _csv(files.comparisons)
    pooled = next(r for r in rows if r["n_examples"] == "")
    assert pooled["verdict"] == "long beats short"
    low, diff, high = (float(pooled[f"{x}_length_controlled"]) for x in ("low", "diff", "high"))
    assert low <= diff <= high and low < 0 < high and diff < float(pooled["diff"])
    assert pooled["length_controlled_flag"] == "mostly length"
    assert "LC win rate: mostly length" in text
    cells = _csv(files.cells)
    assert all(float(c["lc_low"]) <= float(c["lc_win_rate"]) <= float(c["lc_high"]) for c in cells)
    numbers = [n for _, _, n in verdict_lines(ctx.analysis)]
    assert any("LC win rate" in n for n in numbers)


def test_a_pairwise_report_says_why_there_is_no_lc_win_rate(tmp_path: Path) -> None:
    ctx = _context(["a", "b"], [64], [0, 1], set())
    design = Design(["a", "b"], [64], [0, 1], pairwise=True)
    trials = [_trial(a, 64, s, random.Random(s)) for a in "ab" for s in (0, 1)]  # no lengths
    ctx = ReportContext(**{**ctx.__dict__, "analysis": analyze_sweep(trials, design)})
    text = write_report(ctx, tmp_path).markdown.read_text()
    assert "Not computed: 4 done trial(s) have no reference or response lengths" in text
