"""Judge calls in flight when their process dies, times out or fails: the pending-request record.

The cache records each request (its key) before it is sent and clears the record when the reply
is stored, or when the call failed in a way the server certainly did not bill. A record left
behind means "sent, reply never seen": a later run sends the request again and counts it in
judge_calls_maybe_repaid instead of hiding a possible second payment.

The process-death test is real: a child process judges against the loopback server, which holds
some replies; the test waits (on conditions, never on fixed sleeps) until the server has those
requests, SIGKILLs the child, and judges again in this process with the same cache file.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ablate.judge.cache import JudgeCache
from ablate.judge.http_client import EndpointSettings
from ablate.judge.openai_judge import HttpJudgeSettings, OpenAIJudge
from ablate.judge.templates import builtin_template
from tests.support.chat_server import Behaviour, ChatServer, Hang, Ok, Status

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 120.0  # generous: a loaded 2-core machine is slow, never wrong
VERDICT = Ok("Clear and complete.\nLevel: 5")

# The child: judge `n` samples with the same settings as judge() below, and never return
# (the held replies keep it waiting until it is killed).
CHILD = """
import sys
from pathlib import Path
from tests.unit.judge.test_inflight import judge, samples
judge(sys.argv[1], Path(sys.argv[2]), timeout_s=600.0).judge(samples(int(sys.argv[3])))
"""


def samples(n: int) -> list[dict[str, Any]]:
    return [
        {"prompt_id": f"p{i}", "prompt": f"Question {i}?", "sample": 0, "response": f"Answer {i}."}
        for i in range(n)
    ]


_OPEN: list[JudgeCache] = []


@pytest.fixture(autouse=True)
def _close_caches() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def judge(
    url: str,
    cache_path: Path,
    timeout_s: float = 0.5,
    max_retries: int = 0,
    max_concurrency: int = 16,
) -> OpenAIJudge:
    """A likert judge without logprobs or repair: one request per sample."""
    endpoint = EndpointSettings(
        base_url=url,
        model="judge-model",
        api_key_env=None,
        max_concurrency=max_concurrency,
        timeout_s=timeout_s,
        max_retries=max_retries,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    )
    settings = HttpJudgeSettings(
        endpoint, "likert", builtin_template("likert"), top_logprobs=None, repair=False
    )
    _OPEN.append(JudgeCache(cache_path))
    return OpenAIJudge(settings, _OPEN[-1])


def count(cache_path: Path, table: str) -> int:
    """Rows of a table of the cache file, read as another process would."""
    conn = sqlite3.connect(cache_path, timeout=WAIT_S)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool], child: subprocess.Popen[bytes], what: str) -> None:
    """Poll a condition (not a fixed sleep, not a clock) until it holds. The child never ends by
    itself (it waits on held replies until killed), so its end means it failed: a slow
    machine only waits longer, a broken child fails the test at once."""
    while not condition():
        assert child.poll() is None, f"the child ended (exit {child.returncode}) before: {what}"
        time.sleep(0.02)


def test_calls_in_flight_when_the_process_is_killed_are_resent_and_counted(
    tmp_path: Path,
) -> None:
    n, answered = 8, 3
    cache_path = tmp_path / "judge-cache.sqlite"
    # The first `answered` requests to arrive get their reply, the others are held (released
    # when the server stops): the child waits for them until it is killed.
    script: list[Behaviour] = [VERDICT] * answered
    script += [Hang(600.0)] * (n - answered)
    with ChatServer(script, default=VERDICT) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, server.url, str(cache_path), str(n)], cwd=REPO
        )
        try:
            wait_until(lambda: len(server.requests) >= n, child, "the child sent every request")
            wait_until(
                lambda: count(cache_path, "replies") == answered, child, "answered replies stored"
            )
            # The server holds the other requests: each was recorded before it was sent.
            assert count(cache_path, "pending") == n - answered
        finally:
            child.kill()  # SIGKILL: no handler, no clean-up runs
            child.wait(timeout=WAIT_S)
        resumed = judge(server.url, cache_path)
        judgments = resumed.judge(samples(n))
        assert len(server.requests) == n + (n - answered), "only the unanswered are sent again"
    assert all(j["scored"] and j["score"] == 5.0 for j in judgments)
    metrics = resumed.accounting()
    assert metrics["judge_cache_hits"] == answered
    assert metrics["judge_calls"] == n - answered
    assert metrics["judge_calls_maybe_repaid"] == n - answered
    assert sum(c["maybe_repaid"] for j in judgments for c in j["calls"]) == n - answered
    assert count(cache_path, "pending") == 0, "every reply stored clears its record"

    again = judge(server.url, cache_path)
    again.judge(samples(n))
    assert again.accounting()["judge_calls_maybe_repaid"] == 0, "each is counted once"


def test_a_timed_out_attempt_retried_counts_as_maybe_repaid(tmp_path: Path) -> None:
    with ChatServer([Hang(30.0), Status(503), VERDICT]) as server:
        first = judge(server.url, tmp_path / "c.sqlite", max_retries=2)
        [judgment] = first.judge(samples(1))
    assert judgment["scored"]
    [call] = judgment["calls"]
    # The hang may have been answered and billed unseen; the 503 was an answer, not a bill.
    assert (call["retries"], call["maybe_repaid"]) == (2, 1)
    assert first.accounting()["judge_calls_maybe_repaid"] == 1


def test_a_call_that_certainly_was_not_billed_leaves_no_record(tmp_path: Path) -> None:
    cache_path = tmp_path / "c.sqlite"
    with ChatServer(default=Status(503)) as server:
        [failed] = judge(server.url, cache_path, max_retries=1).judge(samples(1))
        assert not failed["scored"] and failed["calls"][0]["maybe_repaid"] == 0
        assert count(cache_path, "pending") == 0
        server.push(VERDICT)
        resumed = judge(server.url, cache_path)
        resumed.judge(samples(1))
    assert resumed.accounting()["judge_calls_maybe_repaid"] == 0


def test_a_call_that_timed_out_for_good_keeps_its_record(tmp_path: Path) -> None:
    cache_path = tmp_path / "c.sqlite"
    with ChatServer([Hang(30.0), Hang(30.0)], default=VERDICT) as server:
        first = judge(server.url, cache_path, max_retries=1)
        [failed] = first.judge(samples(1))
        assert not failed["scored"] and "timed out" in failed["reason"]
        assert failed["calls"][0]["maybe_repaid"] == 1, "the second hang re-sent the first"
        assert count(cache_path, "pending") == 1, "the second hang is still unaccounted for"
        resumed = judge(server.url, cache_path)
        [judgment] = resumed.judge(samples(1))
    assert judgment["scored"] and judgment["calls"][0]["maybe_repaid"] == 1
    assert first.accounting()["judge_calls_maybe_repaid"] == 1
    assert resumed.accounting()["judge_calls_maybe_repaid"] == 1
    assert count(cache_path, "pending") == 0


def test_the_pending_record_is_written_before_the_request_leaves(tmp_path: Path) -> None:
    cache_path = tmp_path / "c.sqlite"
    seen: list[int] = []

    def responder(request: Any) -> Behaviour:
        seen.append(count(cache_path, "pending"))  # read by the server, as it receives it
        return VERDICT

    with ChatServer(default=responder) as server:
        judge(server.url, cache_path).judge(samples(1))
    assert seen == [1]
    assert count(cache_path, "pending") == 0


def test_calls_waiting_for_a_concurrency_slot_are_not_recorded(tmp_path: Path) -> None:
    # Recorded when they leave, not when they queue: a process killed with 2 calls on the wire
    # and 4 waiting must count 2 possible second payments on resume, not 6.
    cache_path = tmp_path / "c.sqlite"
    seen: list[int] = []

    def responder(request: Any) -> Behaviour:
        seen.append(count(cache_path, "pending"))
        return VERDICT

    with ChatServer(default=responder, latency_s=0.05) as server:
        judge(server.url, cache_path, max_concurrency=2).judge(samples(6))
    assert len(seen) == 6 and max(seen) <= 2, seen
