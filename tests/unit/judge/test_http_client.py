"""ChatClient against a real HTTP server on 127.0.0.1 (tests/support/chat_server.py).

Nothing is mocked: every fault (429 with Retry-After, 5xx, a hung connection, a body that is
not JSON, a dropped connection, 401) is injected by the server's per-request script and
crosses a real socket, so retry counts are compared with the script exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import socket
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from ablate.errors import UserError
from ablate.judge.http_client import (
    ChatClient,
    ChatReply,
    EndpointSettings,
    JudgeCallError,
    parse_retry_after,
)
from tests.support.chat_server import (
    Behaviour,
    ChatServer,
    Drop,
    Hang,
    Malformed,
    Ok,
    Status,
    token_logprobs,
)

MESSAGES = [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": "Rate"}]
KEY_ENV = "ABLATE_TEST_JUDGE_KEY"
FAKE_KEY = "sk-FAKE-LEAKCHECK-9f8e7d6c5b4a"


def settings(server: ChatServer, **overrides: Any) -> EndpointSettings:
    # Small backoff so retries cost milliseconds; tests that time waits set their own.
    fields: dict[str, Any] = {
        "base_url": server.url, "model": "judge-model", "api_key_env": None,
        "max_concurrency": 4, "timeout_s": 2.0, "max_retries": 3,
        "backoff_initial_s": 0.01, "backoff_max_s": 0.05,
    }
    return EndpointSettings(**{**fields, **overrides})


def ask(cfg: EndpointSettings, calls: int = 1, **kwargs: Any) -> list[ChatReply]:
    async def main() -> list[ChatReply]:
        async with ChatClient(cfg) as client:
            jobs = [client.complete(MESSAGES, 0.0, 16, **kwargs) for _ in range(calls)]
            return list(await asyncio.gather(*jobs))

    return asyncio.run(main())


def ask_error(cfg: EndpointSettings) -> JudgeCallError:
    with pytest.raises(JudgeCallError) as info:
        ask(cfg)
    return info.value


def gaps(server: ChatServer) -> list[float]:
    times = [r.received_at for r in server.requests]
    return [b - a for a, b in itertools.pairwise(times)]


def test_reply_fields_and_request_payload() -> None:
    with ChatServer([Ok("Score: 5", usage=(12, 3), model="served-model")]) as server:
        [reply] = ask(settings(server))
    assert (reply.text, reply.finish_reason, reply.model) == ("Score: 5", "stop", "served-model")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.retries) == (12, 3, 0)
    assert reply.logprobs is None and reply.raw["usage"]["total_tokens"] == 15
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {"model": "judge-model", "messages": MESSAGES,
                            "temperature": 0.0, "max_tokens": 16}
    assert "authorization" not in request.headers  # api_key_env None: no key sent


def test_logprobs_requested_and_passed_through() -> None:
    content = token_logprobs([("4", -0.2)], alternatives={"5": -1.9, "3": -3.0})
    with ChatServer([Ok("4", logprobs=content)]) as server:
        [reply] = ask(settings(server), logprobs=5)
    assert reply.logprobs == content
    assert [t["token"] for t in reply.logprobs[0]["top_logprobs"]] == ["4", "5", "3"]
    body = server.requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 5


def test_429_retry_after_is_honoured() -> None:
    with ChatServer([Status(429, headers={"Retry-After": "1"}), Ok("late")]) as server:
        [reply] = ask(settings(server, backoff_max_s=5.0))
    assert (reply.text, reply.retries) == ("late", 1)
    assert gaps(server)[0] >= 1.0  # backoff alone would be <= 0.01 s


def test_retry_after_is_capped_at_backoff_max() -> None:
    with ChatServer([Status(503, headers={"Retry-After": "30"}), Ok("early")]) as server:
        [reply] = ask(settings(server, backoff_max_s=0.2))
    assert reply.retries == 1 and 0.15 <= gaps(server)[0] < 2.0


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0 and parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_500_then_success_is_one_retry() -> None:
    with ChatServer([Status(500), Ok("fine")]) as server:
        [reply] = ask(settings(server))
    assert (reply.text, reply.retries, len(server.requests)) == ("fine", 1, 2)


def test_hung_connection_times_out_and_retries() -> None:
    # The hang is released only when the server stops, after `ask` returned: a reply at all
    # can only mean the client gave up on the hung connection and asked again (no clock).
    hang_s = 3600
    with ChatServer([Hang(hang_s), Ok("after the hang")], max_lifetime_s=hang_s) as server:
        [reply] = ask(settings(server, timeout_s=0.3))
        assert not server.expired.is_set()
    assert (reply.text, reply.retries) == ("after the hang", 1)


def test_malformed_bodies_are_retried() -> None:
    script: list[Behaviour] = [Malformed(), Malformed('{"id": "no choices"}'), Ok("good")]
    with ChatServer(script) as server:
        [reply] = ask(settings(server))
    assert (reply.text, reply.retries) == ("good", 2)


def test_retry_count_matches_the_script_exactly() -> None:
    faults: list[Behaviour] = [Status(429), Status(500), Status(503), Status(408), Status(409),
                               Drop(), Malformed(), Hang(10)]
    with ChatServer([*faults, Ok("finally")]) as server:
        [reply] = ask(settings(server, max_retries=len(faults), timeout_s=0.3))
    assert (reply.text, reply.retries, len(server.requests)) == ("finally", 8, 9)


def test_retries_exhausted_raises_with_the_count() -> None:
    with ChatServer(default=Status(502, "bad gateway")) as server:
        error = ask_error(settings(server, max_retries=3))
    assert (error.retries, error.status, len(server.requests)) == (3, 502, 4)
    assert "gave up after 3 retries" in error.reason and "bad gateway" in error.reason


def test_401_is_not_retried_and_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    with ChatServer([Status(401, "invalid api key"), Ok("never")]) as server:
        error = ask_error(settings(server, api_key_env=KEY_ENV))
    assert (error.status, error.retries, len(server.requests)) == (401, 0, 1)
    assert KEY_ENV in error.reason and "invalid api key" in error.reason


@pytest.mark.parametrize("code", [400, 403, 404, 422])
def test_client_errors_are_not_retried(code: int) -> None:
    with ChatServer([Status(code, f"server says {code}"), Ok("never")]) as server:
        error = ask_error(settings(server))
    assert (error.status, error.retries, len(server.requests)) == (code, 0, 1)
    assert f"server says {code}" in str(error)


def test_error_after_retries_keeps_the_count_and_pickles() -> None:
    with ChatServer([Status(500), Status(422, "bad field")]) as server:
        error = ask_error(settings(server))
    assert (error.status, error.retries) == (422, 1)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.retries, copy.status) == (error.reason, 1, 422)


def test_rpm_limiter_spaces_calls() -> None:
    with ChatServer() as server:
        ask(settings(server, requests_per_minute=600, max_concurrency=5), calls=5)
    # 600 rpm = one call every 0.1 s, evenly, not a burst of 5. Arrival times at the server
    # also carry connection set-up (the first call opens a connection, so it can arrive just
    # before the second), hence the median gap and the span; a burst would show both near 0.
    observed = sorted(gaps(server))
    assert len(server.requests) == 5 and observed[len(observed) // 2] >= 0.07
    assert sum(observed) >= 0.3


@pytest.mark.parametrize("limit", [3, 20])
def test_concurrency_limit_is_respected(limit: int) -> None:
    # 0.2 s per call leaves time for all `limit` connections to open while the first waits.
    with ChatServer(latency_s=0.2) as server:
        replies = ask(settings(server, max_concurrency=limit), calls=3 * limit)
    assert server.max_in_flight == limit and len(replies) == 3 * limit
    assert [r.text for r in replies] == ["echo: Rate"] * 3 * limit


class _CountConnections(logging.Handler):
    """Counts the connections httpcore opens (its debug log says connect_tcp.complete)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.opened = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.opened += record.getMessage().startswith("connect_tcp.complete")


def test_connections_are_kept_alive_and_reused() -> None:
    # Each admitted call takes an idle connection and gives it back: 4 rounds of `limit` calls
    # open `limit` connections, not one per call, and never more than the limit.
    handler, logger = _CountConnections(), logging.getLogger("httpcore.connection")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with ChatServer(latency_s=0.05) as server:
            replies = ask(settings(server, max_concurrency=5, max_retries=0), calls=20)
            assert server.max_in_flight == 5
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert handler.opened == 5 and [r.retries for r in replies] == [0] * 20


def test_requests_carry_httpx_default_headers() -> None:
    with ChatServer() as server:
        ask(settings(server))
        headers = server.requests[0].headers
    assert headers["user-agent"].startswith("python-httpx/")
    assert headers["accept-encoding"] == "gzip, deflate" and headers["accept"] == "*/*"
    assert headers["content-type"] == "application/json" and "authorization" not in headers


def test_64_simultaneous_connections_all_succeed() -> None:
    # 64 connections opened in the same instant: the accept queue must hold them all (the
    # server's listen backlog is 256; socketserver's default of 5 would drop SYNs, and a
    # dropped SYN is resent only after a second). Each call waits for the latency, so all 64
    # are in flight at once, each on its own connection.
    with ChatServer(latency_s=0.5) as server:
        replies = ask(settings(server, max_concurrency=64, max_retries=0, timeout_s=60), calls=64)
        assert server.max_in_flight == 64 and len(server.requests) == 64
    assert [r.retries for r in replies] == [0] * 64


class _StartServerOnRefusal(logging.Handler):
    """Brings a server up on `port` when httpcore logs the first refused connection attempt:
    the client's next attempt, if it makes one, finds it listening."""

    def __init__(self, holder: socket.socket) -> None:
        super().__init__(logging.DEBUG)
        self.holder, self.port = holder, holder.getsockname()[1]
        self.servers: list[ChatServer] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("connect_tcp.failed") and not self.servers:
            self.holder.close()  # never listened: the port is free at once
            self.servers.append(ChatServer([Ok("up at last")], port=self.port).start())


def test_a_refused_connection_is_retried_outside_the_retry_budget() -> None:
    # A port bound but not listening refuses connections until the handler starts a server.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    handler = _StartServerOnRefusal(holder)
    logger = logging.getLogger("httpcore.connection")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        cfg = EndpointSettings(
            f"http://127.0.0.1:{handler.port}/v1", "m", api_key_env=None, max_retries=0
        )
        [reply] = ask(cfg)  # no retry budget at all: a refusal would fail the call
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        holder.close()
        for server in handler.servers:
            server.stop()
    assert len(handler.servers) == 1, "the first attempt was refused"
    assert (reply.text, reply.retries, reply.maybe_repaid) == ("up at last", 0, 0)


def test_a_server_past_its_lifetime_says_so() -> None:
    with ChatServer(max_lifetime_s=0.05) as server:
        assert server.expired.wait(timeout=60)
        error = ask_error(settings(server, max_retries=0))
    # What the end-to-end test saw when its sweep outlived the server on a loaded machine.
    assert "ConnectError: All connection attempts failed" in error.reason
    assert not error.maybe_billed, "a connection never opened carried no request"


def test_unseen_replies_are_told_apart_from_answers() -> None:
    # A hang may have been processed and billed; 503 and 429 are answers; a 504 gateway may
    # have left its backend working; an unreadable 200 was answered.
    script: list[Behaviour] = [Hang(10), Status(503), Status(504), Status(429), Malformed()]
    with ChatServer([*script, Ok("done")]) as server:
        [reply] = ask(settings(server, max_retries=5, timeout_s=0.3))
    assert (reply.retries, reply.maybe_repaid) == (5, 3)
    with ChatServer([Status(500), Hang(10)]) as server:
        error = ask_error(settings(server, max_retries=1, timeout_s=0.3))
    assert (error.retries, error.maybe_repaid, error.maybe_billed) == (1, 0, True)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.maybe_repaid, copy.maybe_billed) == (0, True)


def _leak_scenarios() -> list[tuple[list[Behaviour], dict[str, Any]]]:
    echo = f"Incorrect API key provided: {FAKE_KEY}"
    return [
        ([Status(401, echo)], {}),
        ([Status(403, echo)], {}),
        ([Status(400, body=f"plain text {FAKE_KEY}")], {}),
        ([Status(500, echo)] * 2, {}),
        ([Status(429, echo, headers={"Retry-After": "0"})] * 2, {}),
        ([Malformed(f"<html>{FAKE_KEY}</html>")] * 2, {}),
        ([Malformed(f'{{"error": "{FAKE_KEY}"}}')] * 2, {}),
        ([Drop()] * 2, {}),
        ([Hang(10)] * 2, {"timeout_s": 0.2}),
    ]


def test_the_key_never_leaks(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    caplog.set_level(logging.DEBUG)  # httpx / httpcore debug logs included
    for script, overrides in _leak_scenarios():
        with ChatServer(script) as server:
            cfg = settings(server, api_key_env=KEY_ENV, max_retries=1, **overrides)
            error = ask_error(cfg)
        shown = [str(error), repr(error), error.reason, "".join(traceback.format_exception(error))]
        assert not [s for s in shown if FAKE_KEY in s], script
        assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"  # sent
    with ChatServer([Ok(f"you sent {FAKE_KEY}")]) as server:
        cfg = settings(server, api_key_env=KEY_ENV)
        [reply] = ask(cfg)
        assert FAKE_KEY not in repr(reply) and FAKE_KEY not in repr(ChatClient(cfg))
    assert FAKE_KEY not in caplog.text and FAKE_KEY not in repr(cfg)


def test_missing_env_var_is_a_user_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    cfg = EndpointSettings("http://127.0.0.1:9/v1", "m", api_key_env=KEY_ENV)
    with pytest.raises(UserError, match=f"{KEY_ENV} \\(setting api_key_env\\) is not set"):
        ChatClient(cfg)


def test_bad_settings_are_user_errors() -> None:
    with pytest.raises(UserError, match="base_url must start with http"):
        EndpointSettings("127.0.0.1:8000/v1", "m", api_key_env=None)
    with pytest.raises(UserError, match="base_url is not a valid URL: Invalid port: 'abc'"):
        EndpointSettings("http://127.0.0.1:abc/v1", "m", api_key_env=None)
    with pytest.raises(UserError, match="max_concurrency must be >= 1"):
        EndpointSettings("http://127.0.0.1:8000/v1", "m", api_key_env=None, max_concurrency=0)
