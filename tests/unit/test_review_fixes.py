"""Behaviours added after review: judge outages are not stored as done, one odd reply does not
sink a trial, keys that cannot go into a header are refused cleanly, judges with other
settings get other folders, and a full Stack Exchange mirror's extra archives are skipped.
The chat server is real (loopback); its replies are scripted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import (
    Config,
    EvaluationConfig,
    GenerationConfig,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
    TrainingConfig,
)
from ablate.data.sources.stackexchange.dump import find_sites
from ablate.errors import UserError
from ablate.judge.cache import JudgeCache
from ablate.judge.http_client import ChatClient, EndpointSettings
from ablate.judge.openai_judge import HttpJudgeSettings, OpenAIJudge
from ablate.judge.templates import builtin_template
from ablate.plan import judge_name
from ablate.stages import code_versions
from tests.support.chat_server import ChatServer, Malformed, Ok, RecordedRequest, Status


def sample(i: int) -> dict[str, Any]:
    return {
        "prompt_id": f"p{i}",
        "prompt": f"Question {i}?",
        "sample": 0,
        "response": f"Answer {i}.",
    }


def http_judge(server: ChatServer, cache: JudgeCache) -> OpenAIJudge:
    endpoint = EndpointSettings(
        base_url=server.url,
        model="m",
        api_key_env=None,
        max_retries=1,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        timeout_s=2,
    )
    return OpenAIJudge(HttpJudgeSettings(endpoint, "likert", builtin_template("likert")), cache)


def test_an_odd_reply_fails_only_its_own_sample(tmp_path: Path) -> None:
    odd = '{"choices": [{"message": {"content": ["a", "list"]}, "finish_reason": "stop"}]}'

    def responder(request: RecordedRequest) -> Any:
        return Malformed(odd) if "Answer 1." in request.messages[-1]["content"] else Ok("Fine.\n5")

    with ChatServer(default=responder) as server, JudgeCache(tmp_path / "c.sqlite") as cache:
        judgments = http_judge(server, cache).judge([sample(0), sample(1), sample(2)])
    assert [j["scored"] for j in judgments] == [True, False, True]
    assert "judge call failed" in judgments[1]["reason"]


def test_judge_outage_leaves_the_stage_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ablate.data.pools import prepare_pool
    from ablate.plan import STAGES, Trial
    from ablate.stages.pipeline import run_trial

    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "models"))
    # Training comes first: a long lifetime, so a loaded machine cannot outlast the server.
    with ChatServer(default=lambda r: Status(503, "down"), max_lifetime_s=3600) as server:
        config = Config(
            name="outage",
            model=ModelConfig(name_or_path="builtin:tiny", dtype="float32"),
            pools={"syn": PoolConfig(source="synthetic", size=20, seed=1)},
            training=TrainingConfig(
                method="full",
                epochs=1,
                batch_size=4,
                micro_batch_size=4,
                max_seq_length=128,
                learning_rate=1e-3,
                final_learning_rate=1e-4,
            ),
            generation=GenerationConfig(samples_per_prompt=1, max_new_tokens=4, batch_size=2),
            judge=JudgeConfig(
                backend="openai",
                model="m",
                base_url=server.url,
                api_key_env=None,
                max_retries=0,
                timeout_s=2,
            ),
            evaluation=EvaluationConfig(
                prompts=PoolConfig(source="synthetic", size=4, seed=2), bootstrap_resamples=100
            ),
        )
        trial = Trial("syn", "syn", 4, 0, {s: f"{s}-1" for s in STAGES}, "likert-m")
        root = tmp_path / "results" / "outage" / "trials" / trial.folder
        pool = prepare_pool("syn", config.pools["syn"], tmp_path / "results" / "pools")
        with pytest.raises(RuntimeError, match="judge calls failed for good"):
            run_trial(config, trial, root, {"syn": pool}, "cpu")
    assert (root / "generate" / "_done.json").is_file()
    assert not (root / "judge" / "likert-m" / "_done.json").exists(), "an outage is not a verdict"


@pytest.mark.parametrize("key", ["sk-abc\n", "sk-ab c", "sk-é"])
def test_a_key_that_cannot_go_into_a_header_is_refused_without_showing_it(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABLATE_TEST_BAD_KEY", key)
    settings = EndpointSettings(
        base_url="http://127.0.0.1:9/v1", model="m", api_key_env="ABLATE_TEST_BAD_KEY"
    )
    with pytest.raises(UserError, match="ABLATE_TEST_BAD_KEY") as error:
        ChatClient(settings)
    assert key.strip() not in str(error.value)


def test_judges_with_other_settings_get_other_folders() -> None:
    def name(**judge: Any) -> str:
        config = Config(name="x", judge=JudgeConfig(model="mistral:7b", **judge))
        return judge_name(config, code_versions(config))

    assert name() != name(temperature=0.5)
    other = Config(name="x", judge=JudgeConfig(model="qwen2.5:7b"))
    assert name() != judge_name(other, code_versions(other))
    assert name() == name(max_concurrency=64), "runtime settings do not make another judge"
    assert name(name="mine") == "mine"


def test_a_full_mirror_keeps_posts_archives_and_skips_tables_and_meta_sites(tmp_path: Path) -> None:
    for archive in (
        "stackoverflow.com-Posts.7z",
        "stackoverflow.com-Comments.7z",
        "stackoverflow.com-Users.7z",
        "math.meta.stackexchange.com.7z",
        "meta.stackexchange.com.7z",
        "math.stackexchange.com.7z",
    ):
        (tmp_path / archive).write_bytes(b"")
    assert sorted(s.name for s in find_sites(tmp_path)) == ["math", "stackoverflow"]
