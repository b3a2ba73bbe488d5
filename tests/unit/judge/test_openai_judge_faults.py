"""The HTTP judge's faults that stay a sample's own: one odd reply does not sink a trial, and
an API key that cannot go into a header is refused without being shown. The chat server is real
(loopback); its replies are scripted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.errors import UserError
from ablate.judge.cache import JudgeCache
from ablate.judge.http_client import ChatClient, EndpointSettings
from ablate.judge.openai_judge import HttpJudgeSettings, OpenAIJudge
from ablate.judge.templates import builtin_template
from tests.support.chat_server import ChatServer, Malformed, Ok, RecordedRequest


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
