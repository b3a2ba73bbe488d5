"""What `ablate plan` says a sweep will cost, checked against numbers worked out by hand: the
generation budget per trial (every response to its token limit) from the evaluation prompts'
samples, each task's responses and each dialogue turn's reply, an arm's own generation
settings, and a search's dearest corner."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ablate.checks import load as load_config
from ablate.checks import plan_fingerprints
from ablate.config.schema import Config
from ablate.estimate import estimate_search, estimate_trials, task_tokens
from ablate.plan import plan_trials
from ablate.stages import code_versions

REPO = Path(__file__).resolve().parents[2]


def sweep(tmp_path: Path, extra: dict[str, object], overrides: list[str] | None = None) -> Config:
    """12 synthetic prompts x 3 samples of at most 100 tokens, arms "a" and "short" (whose
    replies stop at 50 tokens), one size and seed; ``extra`` merged in."""
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"question": f"{i} + 1?", "answer": str(i + 1)}) + "\n"
                                for i in range(4)))  # fmt: skip
    config = {
        "name": "costs",
        "model": {"name_or_path": "builtin:tiny"},
        "pools": {"syn": {"source": "synthetic", "size": 100, "seed": 0}},
        "generation": {"samples_per_prompt": 3, "max_new_tokens": 100},
        # dialogue turns are graded over HTTP; plan never calls the endpoint
        "judge": {"backend": "openai", "model": "j", "base_url": "http://127.0.0.1:9/v1"},
        "evaluation": {"prompts": {"source": "synthetic", "size": 12, "seed": 1}},
        "sweep": {
            "arms": {
                "a": {"pool": "syn"},
                "short": {"pool": "syn", "overrides": {"generation.max_new_tokens": 50}},
            },
            "sizes": [8],
            "seeds": [0],
        },
    }
    for key, value in extra.items():
        config.setdefault(key, {}).update(value)  # type: ignore[attr-defined]
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_config(path, overrides)


def per_arm(config: Config, results: Path) -> dict[str, int | None]:
    trials = plan_trials(config, *plan_fingerprints(config), code_versions)
    found = estimate_trials(config, trials, results)
    return {t.arm: found[t.folder].generation_tokens for t in trials}


TASKS = {
    "tasks": {
        # greedy: one response a prompt; sampled: `samples` of them
        "sum": {"source": "arithmetic", "size": 10, "max_new_tokens": 64},
        "drawn": {
            "source": "arithmetic",
            "size": 5,
            "decoding": "sampled",
            "samples": 3,
            "max_new_tokens": 32,
        },
        "file": {"source": "jsonl", "path": "problems.jsonl", "max_new_tokens": 16},
    },
    "dialogues": {"max_turns": 2},  # the built-in 10 conversations, 3 or more turns each
}


def test_the_evaluation_prompts_samples_at_most(tmp_path: Path) -> None:
    # 12 prompts x 3 samples x 100 tokens; the short arm's replies stop at 50
    assert per_arm(sweep(tmp_path, {}), tmp_path) == {"a": 3_600, "short": 1_800}


def test_tasks_and_dialogue_turns_are_counted(tmp_path: Path) -> None:
    config = sweep(tmp_path, {"evaluation": TASKS})
    # tasks: 10 x 64 (greedy) + 5 x 32 x 3 (sampled) + 4 x 16 (the file's problems) = 1,184,
    # whatever the arm's generation settings (a task has its own token limit)
    assert task_tokens(config) == 640 + 480 + 64
    # dialogues: 10 conversations x 2 turns, one reply each of the arm's max_new_tokens
    assert per_arm(config, tmp_path) == {
        "a": 3_600 + 20 * 100 + 1_184,
        "short": 1_800 + 20 * 50 + 1_184,
    }


def test_a_hub_task_counts_its_size_or_is_unknown_before_download(tmp_path: Path) -> None:
    hub = {"source": "hf", "dataset": "openai/gsm8k", "split": "test", "max_new_tokens": 200}
    sized = sweep(tmp_path, {"evaluation": {"tasks": {"gsm8k": {**hub, "size": 50}}}})
    assert task_tokens(sized) == 50 * 200
    unsized = sweep(tmp_path, {"evaluation": {"tasks": {"gsm8k": hub}}})
    assert task_tokens(unsized) is None
    assert per_arm(unsized, tmp_path) == {"a": None, "short": None}


def test_a_search_is_priced_at_its_dearest_generation_settings(tmp_path: Path) -> None:
    search = REPO / "sweeps" / "search.yaml"
    space = "search.space.generation.max_new_tokens=[16, 64]"
    config = load_config(search, [space, "generation.samples_per_prompt=2"])
    # tiny.yaml: 16 prompts x 2 samples x at most 64 tokens, and its arithmetic task's
    # 16 greedy responses x 16 tokens
    assert estimate_search(config, tmp_path).generation_tokens == 16 * 2 * 64 + 16 * 16
    plain = estimate_search(load_config(search), tmp_path)
    assert plain.generation_tokens == 16 * 2 * 48 + 16 * 16
    assert plain.total(plain.generation_tokens) == 8 * (16 * 2 * 48 + 16 * 16)
