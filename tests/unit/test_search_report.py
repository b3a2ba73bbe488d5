"""A search's report section, search.csv and search_history.png, from a simulated search
(judge scores drawn around a planted optimum; no training)."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

from ablate.analysis.search import SearchAnswer, SearchTrial, analyze_search
from ablate.analysis.sweep import TrialData
from ablate.search.space import Dimension
from ablate.search_report import (
    SEARCH_COLUMNS,
    SEARCH_CSV,
    SEARCH_PNG,
    search_csv,
    search_section,
    write_search_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PROMPTS = [f"p{i}" for i in range(30)]
LR = Dimension("training.learning_rate", "float", 1e-6, 1e-4, log=True)
EPOCHS = Dimension("training.epochs", "int", 1.0, 5.0)
DIMS = [LR, EPOCHS, Dimension("mixture.a", "weight", 0.0, 1.0),
        Dimension("mixture.b", "weight", 0.0, 1.0)]  # fmt: skip


def _trials(n_configs: int, seeds: list[int], role: str = "search", seed: int = 0,
            only: list[int] | None = None) -> list[SearchTrial]:  # fmt: skip
    """Configuration i: a = i-th draw; mean score 3 - 4 (a - 0.7)^2 + a learning-rate effect."""
    rng = random.Random(seed)
    prompt = {p: rng.gauss(0, 0.3) for p in PROMPTS}
    draws = random.Random(42)
    out = []
    for i in range(n_configs):
        a, lr, epochs = round(draws.random(), 2), 10 ** draws.uniform(-6, -4), draws.randint(1, 5)
        if only is not None and i not in only:
            continue
        mean = 3 - 4 * (a - 0.7) ** 2 - 0.3 * (lr < 3e-6)
        values = {LR.name: float(f"{lr:.3g}"), EPOCHS.name: epochs, "mixture.a": a,
                  "mixture.b": round(1 - a, 2)}  # fmt: skip
        for s in seeds:
            shift = rng.gauss(0, 0.05)
            scores = {p: [mean + prompt[p] + shift + rng.gauss(0, 0.4) for _ in range(2)]
                      for p in PROMPTS}  # fmt: skip
            judge = sum(x for v in scores.values() for x in v) / (2 * len(PROMPTS))
            data = TrialData(f"base-{i:02d}", 200, s, scores, metrics={"judge_mean": judge})
            out.append(SearchTrial(data, role, values))
    return out


def _answer(n_configs: int = 12, confirm: bool = True) -> SearchAnswer:
    trials = _trials(n_configs, [0, 1])
    if confirm:
        ranked = analyze_search(trials, DIMS, "judge_mean", "maximize").configurations
        top = [int(r.arm.split("-")[1]) for r in ranked[:2]]
        trials += _trials(n_configs, [2, 3, 4], "confirm", seed=7, only=top)
    return analyze_search(trials, DIMS, "judge_mean", "maximize")


@pytest.fixture(scope="module")
def answer() -> SearchAnswer:
    return _answer()


def test_csv_has_a_row_per_configuration_and_a_column_per_dimension(answer: SearchAnswer) -> None:
    rows = list(csv.reader(io.StringIO(search_csv(answer, DIMS))))
    assert rows[0] == [*SEARCH_COLUMNS, *(d.name for d in DIMS)]
    assert len(rows) == 1 + 12 + 2  # the search's 12, then the 2 confirmed
    best = answer.configurations[0]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["rank"] == "1" and first["arm"] == best.arm and first["role"] == "search"
    assert first["objective"] == "judge_mean" and first["n_seeds"] == "2"
    assert float(first["low"]) < float(first["value"]) < float(first["high"])
    assert float(first["mixture.a"]) == best.values["mixture.a"]
    assert [r[2] for r in rows[-2:]] == ["confirm", "confirm"]


def test_section_names_the_best_the_rule_and_every_part(answer: SearchAnswer) -> None:
    text = "\n".join(search_section(answer, DIMS, "tpe", 16))
    best = answer.configurations[0]
    assert "12 of the budget of 16 configurations are done" in text
    assert "| `training.learning_rate` | float in [1e-06, 0.0001], log scale |" in text
    assert f"| 1 | {best.arm} |" in text and "winner's curse" in text
    assert "### Which settings mattered" in text and "fANOVA" in text
    assert "mixture.b is left out, being 1 minus the other weights" in text
    assert "Predicted best mixture" in text and "Scheffé" in text
    assert 'Rule, declared before the data: "A beats B" only when the 95% interval' in text
    assert answer.comparisons and answer.comparisons[0].verdict in text
    assert "7 more in search.csv" in text  # the table shows the top 5
    assert "![Search history](search_history.png)" in text


def test_written_files(tmp_path: Path, answer: SearchAnswer) -> None:
    files = write_search_report(answer, DIMS, "tpe", 16, tmp_path)
    assert files.csv == tmp_path / SEARCH_CSV and files.csv.read_text().startswith("rank,arm,")
    assert files.png == tmp_path / SEARCH_PNG and files.png.read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_a_search_with_nothing_done_says_so_and_draws_nothing(tmp_path: Path) -> None:
    (tmp_path / SEARCH_PNG).write_bytes(PNG_MAGIC)  # an earlier report's figure
    empty = analyze_search([], DIMS, "judge_mean", "maximize")
    files = write_search_report(empty, DIMS, "random", 8, tmp_path)
    assert files.png is None and not (tmp_path / SEARCH_PNG).exists()
    text = "\n".join(files.lines)
    assert "0 of the budget of 8" in text and "None done yet." in text
    assert "not drawn: no configuration is done yet" in text
    assert "No configuration was re-run on fresh seeds" in text
    header = ",".join([*SEARCH_COLUMNS, *(d.name for d in DIMS)])
    assert files.csv.read_text().splitlines() == [header]


def test_few_configurations_give_reasons_not_numbers(tmp_path: Path) -> None:
    few = _answer(3, confirm=False)
    text = "\n".join(write_search_report(few, DIMS, "tpe", 8, tmp_path).lines)
    assert "No importances: 3 configurations done, at least 4 are needed." in text
    assert "No mixture fit: 3 configurations done, at least 4 are needed." in text
