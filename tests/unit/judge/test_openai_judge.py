"""OpenAIJudge against a real loopback chat server (tests/support/chat_server.py).

Nothing is mocked: replies, log-probabilities, 429/500/hang/malformed faults and failures are
scripted per request and cross a real socket, so request counts and retries are compared with
the script exactly. Fast: backoffs are milliseconds and the one hang costs a 0.5 s timeout;
the whole file runs in a few seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ablate.errors import UserError
from ablate.judge import parse
from ablate.judge.accounting import JudgeAccounting
from ablate.judge.cache import JudgeCache
from ablate.judge.http_client import EndpointSettings
from ablate.judge.modes import judge_mode
from ablate.judge.openai_judge import NO_REFERENCE, HttpJudgeSettings, OpenAIJudge
from ablate.judge.templates import builtin_template
from tests.support.chat_server import (
    Behaviour,
    ChatServer,
    Hang,
    Malformed,
    Ok,
    RecordedRequest,
    Status,
    token_logprobs,
)

KEY_ENV = "ABLATE_TEST_OPENAI_JUDGE_KEY"
FAKE_KEY = "sk-FAKE-JUDGE-LEAKCHECK-1a2b3c4d5e6f"


def samples(n: int = 3) -> list[dict[str, Any]]:
    return [
        {"prompt_id": f"p{i}", "prompt": f"Question {i}?", "sample": 0, "response": f"Answer {i}."}
        for i in range(n)
    ]


_OPEN_CACHES: list[JudgeCache] = []


@pytest.fixture(autouse=True)
def _close_caches() -> Iterator[None]:
    # Closed here, not whenever garbage collection gets to them: closing a WAL database
    # checkpoints it, a pause that would land in some later (timing-sensitive) test.
    yield
    while _OPEN_CACHES:
        _OPEN_CACHES.pop().close()


def make_judge(
    server: ChatServer,
    tmp_path: Path,
    mode: str = "likert",
    endpoint: dict[str, Any] | None = None,
    **overrides: Any,
) -> OpenAIJudge:
    # Millisecond backoffs, a short timeout for the hang test; a shared cache file per test.
    fields: dict[str, Any] = {
        "base_url": server.url,
        "model": "judge-model",
        "api_key_env": None,
        "max_concurrency": 4,
        "timeout_s": 0.5,
        "max_retries": 5,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        **(endpoint or {}),
    }
    settings = HttpJudgeSettings(
        endpoint=EndpointSettings(**fields),
        mode=mode,
        template=builtin_template(mode),
        **overrides,
    )
    _OPEN_CACHES.append(JudgeCache(tmp_path / "judge-cache.sqlite"))
    return OpenAIJudge(settings, _OPEN_CACHES[-1])


def judge_prompt(request: RecordedRequest) -> str:
    """The rendered template: the first user message, also in a repair request."""
    return next(m["content"] for m in request.messages if m["role"] == "user")


def model_first(request: RecordedRequest) -> bool:
    return "[Response A]\nAnswer" in judge_prompt(request)


def test_likert_with_logprobs_scores_the_expected_level(tmp_path: Path) -> None:
    logprobs = token_logprobs(
        [("Detailed", -0.1), ("\n", -0.01), ("5", math.log(0.6))],
        alternatives={"4": math.log(0.3), " 6": math.log(0.1)},
    )
    with ChatServer([Ok("Detailed and clear.\n5", logprobs=logprobs)]) as server:
        [judgment] = make_judge(server, tmp_path).judge(samples(1))
        body = server.requests[0].body
    assert (body["logprobs"], body["top_logprobs"]) == (True, 20)
    assert judgment["scored"] and judgment["reason"] is None and judgment["verdict"] == "5"
    assert judgment["score"] == pytest.approx(5 * 0.6 + 4 * 0.3 + 6 * 0.1)
    assert judgment["distribution"]["5"] == pytest.approx(0.6)
    assert sum(judgment["distribution"].values()) == pytest.approx(1.0)
    assert (judgment["judge_backend"], judgment["judge_model"]) == ("openai", "judge-model")
    assert judgment["served_model"] == "judge-model"
    assert judgment["template_version"] == builtin_template("likert").version
    assert judgment["parser_version"] == parse.PARSER_VERSION
    [call] = judgment["calls"]
    assert call["messages"] == body["messages"] and call["reply"] == "Detailed and clear.\n5"
    assert (call["cached"], call["retries"], call["repair"]) == (False, 0, False)
    assert call["error"] is None


def test_likert_without_logprobs_scores_the_written_level(tmp_path: Path) -> None:
    with ChatServer([Ok("Some reasoning.\nLevel: 4", model="served-v2")]) as server:
        [judgment] = make_judge(server, tmp_path, top_logprobs=None).judge(samples(1))
        assert "logprobs" not in server.requests[0].body
    assert (judgment["score"], judgment["distribution"]) == (4.0, None)
    assert judgment["served_model"] == "served-v2" and judgment["judge_model"] == "judge-model"


def test_no_verdict_gets_one_repair_request(tmp_path: Path) -> None:
    with ChatServer([Ok("It is fairly good but"), Ok("5")]) as server:
        judge = make_judge(server, tmp_path, top_logprobs=None)
        [judgment] = judge.judge(samples(1))
        first, repair = server.requests
    assert repair.messages[:-2] == first.messages
    assert repair.messages[-2] == {"role": "assistant", "content": "It is fairly good but"}
    assert repair.messages[-1] == {"role": "user", "content": judge_mode("likert").repair}
    assert (judgment["score"], judgment["scored"]) == (5.0, True)
    assert [c["repair"] for c in judgment["calls"]] == [False, True]
    assert [c["verdict"] for c in judgment["calls"]] == [None, "5"]
    assert judge.accounting()["judge_repairs"] == 1 and judge.accounting()["judge_calls"] == 2


def test_still_no_verdict_is_unscored_with_a_reason(tmp_path: Path) -> None:
    with ChatServer([Ok("Hard to say."), Ok("I would rather not.")]) as server:
        judge = make_judge(server, tmp_path)
        [judgment] = judge.judge(samples(1))
        assert len(server.requests) == 2  # one repair, not more
    assert (judgment["scored"], judgment["score"], judgment["verdict"]) == (False, None, None)
    assert "no verdict found" in judgment["reason"] and "after one repair" in judgment["reason"]
    metrics = judge.accounting()
    assert (metrics["judge_unscored"], metrics["judge_unscored_rate"]) == (1, 1.0)


def test_repair_off_sends_no_repair(tmp_path: Path) -> None:
    with ChatServer([Ok("Hard to say.")]) as server:
        [judgment] = make_judge(server, tmp_path, repair=False).judge(samples(1))
        assert len(server.requests) == 1
    assert not judgment["scored"] and judgment["reason"] == parse.NO_VERDICT


def test_truncated_reply_is_repaired_and_named_when_repair_fails(tmp_path: Path) -> None:
    cut = Ok("Let me weigh the", finish_reason="length", usage=(40, 16))
    with ChatServer([cut, Ok("3"), cut, Ok("unsure")]) as server:
        judge = make_judge(server, tmp_path, max_tokens=16, top_logprobs=None)
        [repaired] = judge.judge(samples(1))
        [failed] = judge.judge([{**samples(1)[0], "response": "Another answer."}])
    assert (repaired["score"], [c["repair"] for c in repaired["calls"]]) == (3.0, [False, True])
    assert not failed["scored"] and "max_tokens=16" in failed["reason"]


def test_faults_are_retried_and_no_sample_is_lost(tmp_path: Path) -> None:
    script: list[Behaviour] = [
        Status(429, headers={"Retry-After": "0.01"}),
        Status(500),
        Hang(5.0),
        Malformed(),
    ]
    with ChatServer(script, default=Ok("Level: 5")) as server:
        judge = make_judge(server, tmp_path, top_logprobs=None)
        judgments = judge.judge(samples(6))
        assert len(server.requests) == 6 + len(script)
    assert [j["prompt_id"] for j in judgments] == [s["prompt_id"] for s in samples(6)]
    assert all(j["scored"] and j["score"] == 5.0 for j in judgments)
    metrics = judge.accounting()
    assert (metrics["judge_retries"], metrics["judge_calls"]) == (len(script), 6)
    assert sum(c["retries"] for j in judgments for c in j["calls"]) == len(script)


def test_a_call_that_fails_for_good_is_unscored_and_not_cached(tmp_path: Path) -> None:
    def responder(request: RecordedRequest) -> Behaviour:
        return Status(503) if "Answer 1." in judge_prompt(request) else Ok("6")

    with ChatServer(default=responder) as server:
        judge = make_judge(server, tmp_path, endpoint={"max_retries": 2})
        first = judge.judge(samples(3))
        assert len(server.requests) == 2 + 3  # the failing call: 1 try + 2 retries
        again = make_judge(server, tmp_path, endpoint={"max_retries": 2}).judge(samples(3))
        assert len(server.requests) == 5 + 3  # only the failed one is asked again
    for judgments in (first, again):
        assert [j["scored"] for j in judgments] == [True, False, True]
        assert judgments[1]["reason"].startswith("judge call failed: ")
        assert "HTTP 503" in judgments[1]["reason"]
        assert len(judgments[1]["calls"]) == 1  # a failed call gets no repair
    metrics = judge.accounting()
    assert (metrics["judge_retries"], metrics["judge_failed_calls"], metrics["judge_calls"]) == (
        2,
        1,
        2,
    )


def _without_call_provenance(judgments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**j, "calls": [{**c, "cached": None, "retries": None} for c in j["calls"]]}
        for j in judgments
    ]


def test_same_samples_again_are_all_cache_hits(tmp_path: Path) -> None:
    with ChatServer([Ok("Hmm."), Ok("4")], default=Ok("Level 6", usage=(100, 10))) as server:
        first_judge = make_judge(server, tmp_path)
        first = first_judge.judge(samples(3))
        asked = len(server.requests)
        judge = make_judge(server, tmp_path)
        again = judge.judge(samples(3))
        assert len(server.requests) == asked == 4
    assert all(c["cached"] for j in again for c in j["calls"])
    assert _without_call_provenance(again) == _without_call_provenance(first)
    metrics = judge.accounting()
    assert (metrics["judge_calls"], metrics["judge_cache_hits"], metrics["judge_repairs"]) == (
        0,
        4,
        1,
    )
    assert (metrics["judge_prompt_tokens"], metrics["judge_completion_tokens"]) == (0, 0)
    assert metrics["judge_cached_completion_tokens"] > 0


def test_identical_requests_in_flight_share_one_call(tmp_path: Path) -> None:
    twins = [{**samples(1)[0], "sample": k} for k in range(3)]
    with ChatServer(default=Ok("5"), latency_s=0.1) as server:
        judge = make_judge(server, tmp_path)
        judgments = judge.judge(twins)
        assert len(server.requests) == 1
    assert [j["score"] for j in judgments] == [5.0, 5.0, 5.0]
    assert (judge.accounting()["judge_calls"], judge.accounting()["judge_cache_hits"]) == (1, 2)


def test_a_changed_parser_rereads_the_cache_without_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ChatServer(default=Ok("I give it a solid five")) as server:
        [before] = make_judge(server, tmp_path, repair=False).judge(samples(1))
        asked = len(server.requests)

        def newer_parser(mode: str, text: str) -> parse.Verdict:
            return parse.Verdict("5", None) if "solid five" in text else parse.Verdict(None, "x")

        monkeypatch.setattr(parse, "parse_verdict", newer_parser)
        monkeypatch.setattr(parse, "PARSER_VERSION", parse.PARSER_VERSION + 1)
        [after] = make_judge(server, tmp_path, repair=False).judge(samples(1))
        assert len(server.requests) == asked == 1
    assert not before["scored"] and after["scored"] and after["score"] == 5.0
    assert after["parser_version"] == before["parser_version"] + 1
    assert after["calls"][0]["cached"]


def _pairwise_responder(order_bound: str) -> Any:
    """Prefers the model's response, except for the order_bound question: there it says "A"."""

    def respond(request: RecordedRequest) -> Behaviour:
        if order_bound in judge_prompt(request):
            return Ok("Both fine, the first reads better.\nA")
        return Ok("Reasoning.\n" + ("A" if model_first(request) else "B"))

    return respond


def test_pairwise_asks_both_orders_and_measures_consistency(tmp_path: Path) -> None:
    references = {f"p{i}": f"Reference {i}." for i in range(3)}
    responder = _pairwise_responder(order_bound="Question 2?")
    with ChatServer(default=responder) as server:
        judge = make_judge(server, tmp_path, mode="pairwise")
        judgments = judge.judge(samples(3), references)
        requests = server.requests
    assert len(requests) == 6 and all("logprobs" not in r.body for r in requests)
    for i in range(3):
        texts = [judge_prompt(r) for r in requests if f"Question {i}?" in judge_prompt(r)]
        orders = sorted(t.index(f"Answer {i}.") < t.index(f"Reference {i}.") for t in texts)
        assert orders == [False, True]  # the model's response once as A, once as B
    win, also_win, order_bound = judgments
    assert (win["verdict"], win["score"], win["position_consistent"]) == ("win", 1.0, True)
    assert also_win["verdict"] == "win"
    assert (order_bound["verdict"], order_bound["score"]) == ("tie", 0.5)
    assert order_bound["position_consistent"] is False
    assert (win["order_verdicts"], order_bound["order_verdicts"]) == (
        ["win", "win"],
        ["win", "lose"],
    )
    assert {c["order"] for c in win["calls"]} == {"model_first", "reference_first"}
    metrics = judge.accounting()
    assert metrics["judge_position_consistency"] == pytest.approx(2 / 3)
    assert (metrics["judge_wins"], metrics["judge_ties"], metrics["judge_losses"]) == (2, 1, 0)


def test_pairwise_loss_missing_reference_and_unparsed_order(tmp_path: Path) -> None:
    def responder(request: RecordedRequest) -> Behaviour:
        # Question 1 is unparseable with the reference first, in the repair request too.
        if "Question 1?" in judge_prompt(request) and not model_first(request):
            return Ok("Cannot decide.")
        return Ok("B" if model_first(request) else "A")  # the reference is better

    references = {"p0": "Reference 0.", "p1": "Reference 1."}
    with ChatServer(default=responder) as server:
        judge = make_judge(server, tmp_path, mode="pairwise")
        lose, unparsed, missing = judge.judge(samples(3), references)
        assert not any("Question 2?" in judge_prompt(r) for r in server.requests)
    assert (lose["verdict"], lose["score"], lose["position_consistent"]) == ("lose", 0.0, True)
    assert not unparsed["scored"] and unparsed["reason"].startswith("reference first order: ")
    assert (missing["scored"], missing["reason"], missing["calls"]) == (False, NO_REFERENCE, [])
    metrics = judge.accounting()
    assert metrics["judge_unscored"] == 2 and metrics["judge_position_consistency"] == 1.0
    with pytest.raises(ValueError, match="reference"):
        judge.judge(samples(1))


def test_absolute_grades(tmp_path: Path) -> None:
    grades = {"Question 0?": "Excellent", "Question 1?": "Grade: **Pass**", "Question 2?": "Fail"}

    def responder(request: RecordedRequest) -> Behaviour:
        return Ok("Thinking.\n" + next(g for q, g in grades.items() if q in judge_prompt(request)))

    with ChatServer(default=responder) as server:
        judgments = make_judge(server, tmp_path, mode="absolute").judge(samples(3))
        assert "logprobs" not in server.requests[0].body
    assert [(j["verdict"], j["score"]) for j in judgments] == [
        ("excellent", 1.0),
        ("pass", 0.5),
        ("fail", 0.0),
    ]
    assert all("distribution" not in j for j in judgments)


def test_cost_counts_only_paid_tokens(tmp_path: Path) -> None:
    prices: dict[str, Any] = {"price_prompt_per_million": 2.0, "price_completion_per_million": 8.0}
    with ChatServer(default=Ok("6", usage=(1000, 200))) as server:
        paid = make_judge(server, tmp_path, **prices)
        paid.judge(samples(3))
        cached = make_judge(server, tmp_path, **prices)
        cached.judge(samples(3))
        unpriced = make_judge(server, tmp_path)
        unpriced.judge(samples(3))
    metrics = paid.accounting()
    assert (metrics["judge_prompt_tokens"], metrics["judge_completion_tokens"]) == (3000, 600)
    assert metrics["judge_cost_usd"] == pytest.approx((3000 * 2.0 + 600 * 8.0) / 1e6)
    assert cached.accounting()["judge_cost_usd"] == 0.0
    assert cached.accounting()["judge_cached_prompt_tokens"] == 3000
    assert "judge_cost_usd" not in unpriced.accounting()


def test_the_api_key_never_reaches_a_judgment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)

    def echo_key(request: RecordedRequest) -> Behaviour:
        # A hostile or buggy server echoing the credential back in its reply.
        return Ok(f"Seen {request.headers.get('authorization')}.\nScore: 4")

    script: list[Behaviour] = [Status(500, message=f"bad key {FAKE_KEY}")]
    with ChatServer(script, default=echo_key) as server:
        judge = make_judge(server, tmp_path, endpoint={"api_key_env": KEY_ENV})
        judgments = judge.judge(samples(2))
        assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert all(j["score"] == 4.0 and "Bearer ***" in j["calls"][0]["reply"] for j in judgments)
    assert FAKE_KEY not in json.dumps(judgments) + json.dumps(judge.accounting())


def test_a_run_served_from_the_cache_needs_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with ChatServer(default=Ok("5")) as server:
        make_judge(server, tmp_path).judge(samples(2))
        keyed = make_judge(server, tmp_path, endpoint={"api_key_env": KEY_ENV})
        assert [j["score"] for j in keyed.judge(samples(2))] == [5.0, 5.0]
        with pytest.raises(UserError, match=KEY_ENV):  # a cache miss needs the key
            keyed.judge(samples(3))
        assert len(server.requests) == 2


def test_accounting_merges_and_settings_check_the_template() -> None:
    a, b = JudgeAccounting(judged=2, unscored=1, calls=3), JudgeAccounting(judged=2, calls=1)
    merged = a.merge(b)
    assert (merged.judged, merged.unscored, merged.calls) == (4, 1, 4)
    assert merged.as_metrics()["judge_unscored_rate"] == 0.25
    assert JudgeAccounting().as_metrics()["judge_unscored_rate"] == 0.0
    # Recomputed from the call records of judgments.jsonl, failed calls included.
    recounted = JudgeAccounting()
    recounted.add({"scored": True, "calls": [{"maybe_repaid": 2}, {"retries": 1}]})
    recounted.add({"scored": False, "calls": [{"maybe_repaid": 1, "error": "timed out"}]})
    assert recounted.as_metrics()["judge_calls_maybe_repaid"] == 3
    assert JudgeAccounting().as_metrics()["judge_calls_maybe_repaid"] == 0
    endpoint = EndpointSettings(base_url="http://127.0.0.1:1/v1", model="m", api_key_env=None)
    with pytest.raises(ValueError, match="pairwise"):
        HttpJudgeSettings(endpoint, "likert", builtin_template("pairwise"))
