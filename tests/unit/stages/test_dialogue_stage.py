"""Dialogues in the trial's stages: their metrics (shares per grade and per turn, with
conversation-resampled intervals), their keys (only when set: other sweeps keep their trial
ids), and the config that names them (paths relative to the file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ablate.checks import load as load_config
from ablate.config.schema import (
    ArmConfig,
    Config,
    DialoguesConfig,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
    SweepSpec,
)
from ablate.data.pools import fingerprints
from ablate.judge.modes import judge_mode
from ablate.plan import judge_name, plan_trials
from ablate.records import DialogueJudgment
from ablate.stages import code_versions
from ablate.stages.score import turn_metrics
from tests.support.planning import keys, plan


def judgment(conversation: str, turn: int, verdict: str | None) -> DialogueJudgment:
    score = {"excellent": 1.0, "pass": 0.5, "fail": 0.0}.get(verdict or "")
    return {
        "prompt_id": conversation,
        "sample": turn,
        "score": score,
        "scored": verdict is not None,
        "reason": None if verdict else "no verdict found",
        "verdict": verdict,
        "judge_backend": "openai",
        "judge_model": "j",
        "conversation": conversation,
        "turn": turn,
    }


JUDGED = [
    judgment("a", 1, "excellent"),
    judgment("a", 2, "fail"),
    judgment("b", 1, "excellent"),
    judgment("b", 2, "pass"),
    judgment("c", 1, "pass"),
    judgment("c", 2, None),
    judgment("d", 1, "excellent"),
]


def test_shares_per_grade_and_per_turn_with_intervals() -> None:
    m = turn_metrics(JUDGED, 0.95, 500, 0)
    assert (m["dialogue_turns"], m["dialogue_conversations"]) == (7, 4)
    assert m["dialogue_unscored"] == 1 and m["dialogue_unscored_rate"] == pytest.approx(1 / 7)
    assert m["dialogue_excellent_rate"] == pytest.approx(3 / 6)  # among scored turns
    assert m["dialogue_fail_rate"] == pytest.approx(1 / 6)
    assert m["dialogue_turn1_excellent_rate"] == pytest.approx(3 / 4)
    assert m["dialogue_turn2_excellent_rate"] == 0.0
    assert (m["dialogue_turn1_conversations"], m["dialogue_turn2_conversations"]) == (4, 3)
    for name in (
        "dialogue_excellent_rate",
        "dialogue_pass_rate",
        "dialogue_fail_rate",
        "dialogue_turn1_excellent_rate",
        "dialogue_turn2_excellent_rate",
        "dialogue_unscored_rate",
    ):
        low, high = m[f"{name}_ci_low"], m[f"{name}_ci_high"]
        assert 0.0 <= low <= m[name] <= high <= 1.0, name
    # No judge_* key leaks out to overwrite the prompts' judge metrics in the score.
    assert not [k for k in m if not k.startswith("dialogue_")]


def test_one_conversation_has_no_interval() -> None:
    m = turn_metrics([judgment("a", 1, "excellent"), judgment("a", 2, "pass")], 0.95, 200, 0)
    assert m["dialogue_excellent_rate"] == 0.5 and "dialogue_excellent_rate_ci_low" not in m


def config(dialogues: DialoguesConfig | None = None) -> Config:
    c = Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny"),
        pools={"syn": PoolConfig(source="synthetic", size=100, seed=0)},
        judge=JudgeConfig(model="j", backend="openai", base_url="http://x/v1", mode="safety"),
        sweep=SweepSpec(arms={"a": ArmConfig(pool="syn")}, sizes=[8], seeds=[0, 1]),
    )
    c.evaluation.dialogues = dialogues
    return c


def write(path: Path, turns: list[str]) -> str:
    path.write_text(json.dumps({"id": "x", "turns": turns}) + "\n", encoding="utf-8")
    return str(path)


def test_dialogues_key_generate_and_after_only_when_set() -> None:
    without, with_dialogues = config(), config(DialoguesConfig())
    e = without.evaluation
    assert plan(without) == plan_trials(
        without, *fingerprints(without.pools, e.prompts), code_versions
    )
    # The judge's versions (and so its folder name) are the prompts' mode's alone, as before.
    assert code_versions(without).judge_rubric == judge_mode("safety").version
    assert judge_name(without, code_versions(without)) != judge_name(
        with_dialogues, code_versions(with_dialogues)
    )
    for stage in ("select", "train"):
        assert keys(without, stage) == keys(with_dialogues, stage)
    for stage in ("generate", "judge", "score"):
        assert not set(keys(without, stage)) & set(keys(with_dialogues, stage))


def test_the_content_and_settings_are_keyed_not_the_path(tmp_path: Path) -> None:
    one = config(DialoguesConfig(path=write(tmp_path / "one.jsonl", ["hi", "more"])))
    two = config(DialoguesConfig(path=write(tmp_path / "two.jsonl", ["hi", "more"])))
    other = config(DialoguesConfig(path=write(tmp_path / "other.jsonl", ["hi", "less"])))
    fewer = config(DialoguesConfig(path=str(tmp_path / "one.jsonl"), max_turns=1))
    assert keys(one, "generate") == keys(two, "generate")
    assert not set(keys(one, "generate")) & set(keys(other, "generate"))
    assert not set(keys(one, "generate")) & set(keys(fewer, "generate"))


def test_the_config_names_a_file_relative_to_itself(tmp_path: Path) -> None:
    write(tmp_path / "talks.jsonl", ["hello", "and then?"])
    experiment: dict[str, Any] = {
        "model": {"name_or_path": "builtin:tiny"},
        "pools": {"syn": {"source": "synthetic", "size": 50}},
        "judge": {"backend": "openai", "model": "j", "base_url": "http://127.0.0.1:9/v1"},
        "evaluation": {"dialogues": {"path": "talks.jsonl", "max_turns": 2}},
    }
    arms = {"arms": {"a": {"pool": "syn"}}, "sizes": [8], "seeds": [0]}
    sweep = {"name": "unit", "experiment": "exp.yaml", "sweep": arms}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment), encoding="utf-8")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep), encoding="utf-8")
    loaded = load_config(tmp_path / "sweep.yaml", ["evaluation.dialogues.max_conversations=1"])
    assert loaded.evaluation.dialogues == DialoguesConfig(
        path=str((tmp_path / "talks.jsonl").resolve()), max_turns=2, max_conversations=1
    )


def test_dialogue_judging_is_priced_like_the_prompts_judging() -> None:
    from ablate.stages.score import _cost

    paid = {"dialogue_judge_prompt_tokens": 2_000_000, "dialogue_judge_completion_tokens": 500_000}
    assert _cost(paid, 0.15, 0.6) == (2 * 0.15 + 0.5 * 0.6)
    assert _cost(paid, None, 0.6) is None  # no prices declared: no cost, not a zero
    assert _cost({}, 0.15, 0.6) is None
