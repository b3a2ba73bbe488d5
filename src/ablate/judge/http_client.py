"""An async client for any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, llama.cpp).

One `ChatClient` per endpoint and per event loop: it owns one httpx transport per connection
(see _transports), as many as the concurrency limit, so no admitted call ever waits for a
socket.

Retry policy (exponential backoff with full jitter, tenacity):
- retried: connection errors, timeouts (the whole call has a `timeout_s` deadline, so a hung
  or trickling server cannot stall it), HTTP 408, 409, 429, 500-599, and a 200 whose body is not
  JSON or has no `choices` ("malformed response");
- not retried: every other status (400, 401, 403, 404, 422, ...): the request itself is wrong
  and sending it again is paying twice for the same answer;
- the wait before retry n is uniform(0, min(backoff_max_s, backoff_initial_s * 2**(n-1)));
  a Retry-After header (seconds or HTTP-date) raises it to max(that, Retry-After), and the
  result is capped at backoff_max_s. The cap wins over Retry-After on purpose: a server that
  asks for minutes would otherwise stall a whole sweep silently; an early retry costs at most
  one more 429 (and one retry of the budget). Raise backoff_max_s to honour longer waits.
- the requests-per-minute limit is a leaky bucket of capacity 1 (one call every 60/rpm s),
  so calls are spaced evenly instead of bursting rpm calls at the start of each minute; every
  attempt, retries included, takes a slot because the server counts them all.

Connection set-up is retried apart from that budget: a connection that could not be opened
(refused, or its connect timed out) carried no request, so opening it again can never pay
twice. httpcore does it (AsyncHTTPTransport(retries=_CONNECT_RETRIES)): at once, then after
0.5 s and 1 s, all inside the call's `timeout_s` deadline. A server briefly unable to accept
(restarting, or its accept queue full under a burst of connections) then costs no retry of
the budget; one that stays down still fails the attempt with a connection error, retried as
above.

Replies never seen. Some failed attempts may have been processed, and billed, by the server
without our seeing the reply: a timeout once the request was written, a connection lost after
it, a 200 whose body cannot be read, HTTP 504 (a gateway that stopped waiting for a backend
that may still answer). Each such attempt that is followed by another sending of the request
is counted in `maybe_repaid` (ChatReply, JudgeCallError); JudgeCallError.maybe_billed says
whether the last attempt was one. Every other status is the server's answer instead of a
completion, taken as unbilled; a connection never opened carried nothing.

The API key is read from the environment variable *named* in the settings and goes only into
the Authorization header: it is scrubbed from server error messages and reply bodies (a server
may echo it) and never appears in exceptions, reprs or logs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from ablate.errors import UserError

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
_MIN_SCRUB_LEN = 8  # scrubbing a 1-character "key" would mangle every reply
# Connection set-up retries (httpcore waits 0, 0.5, 1 s): outside the call's retry budget.
_CONNECT_RETRIES = 3
# Statuses after which the request may still have been processed (and billed) upstream.
_UNSEEN_STATUSES = frozenset({504})


@dataclass(frozen=True)
class EndpointSettings:
    base_url: str  # e.g. "http://127.0.0.1:8000/v1"
    model: str
    api_key_env: str | None  # NAME of the environment variable holding the key (never the key)
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    timeout_s: float = 60.0  # per call (connect + read)
    max_retries: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        problems = _settings_problems(self)
        if problems:
            raise UserError(f"judge endpoint {self.base_url!r}: " + "; ".join(problems))


def _settings_problems(s: EndpointSettings) -> list[str]:
    problems = []
    if not s.base_url.startswith(("http://", "https://")):
        problems.append("base_url must start with http:// or https:// (e.g. http://host:8000/v1)")
    else:
        try:
            httpx.URL(s.base_url)  # the client parses it once, at start: fail here instead
        except httpx.InvalidURL as exc:
            problems.append(f"base_url is not a valid URL: {exc}")
    if s.max_concurrency < 1:
        problems.append(f"max_concurrency must be >= 1, got {s.max_concurrency}")
    if s.requests_per_minute is not None and s.requests_per_minute <= 0:
        problems.append(f"requests_per_minute must be > 0 or null, got {s.requests_per_minute}")
    if s.timeout_s <= 0:
        problems.append(f"timeout_s must be > 0, got {s.timeout_s}")
    if s.max_retries < 0:
        problems.append(f"max_retries must be >= 0, got {s.max_retries}")
    if s.backoff_initial_s < 0 or s.backoff_max_s < 0:
        problems.append("backoff_initial_s and backoff_max_s must be >= 0")
    return problems


@dataclass(frozen=True)
class ChatReply:
    text: str  # choices[0].message.content ("" if null)
    finish_reason: str | None
    logprobs: list[dict[str, Any]] | None  # choices[0].logprobs.content as returned, or None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None  # the "model" the server reports
    retries: int  # how many retries this call needed
    raw: dict[str, Any]  # the parsed JSON body
    maybe_repaid: int = 0  # retries sent after an attempt whose reply was never seen


class JudgeCallError(Exception):
    """The call failed for good: a non-retryable status, or retries exhausted."""

    def __init__(
        self,
        reason: str,
        retries: int,
        status: int | None,
        maybe_repaid: int = 0,
        maybe_billed: bool = False,
    ) -> None:
        # All go to Exception.args so the error pickles (it may cross Ray processes).
        super().__init__(reason, retries, status, maybe_repaid, maybe_billed)
        self.reason = reason
        self.retries = retries
        self.status = status
        self.maybe_repaid = maybe_repaid  # as ChatReply.maybe_repaid
        self.maybe_billed = maybe_billed  # the last attempt's reply may exist, unseen

    def __str__(self) -> str:
        return self.reason


class _RetryableError(Exception):
    """One failed attempt worth retrying; `retry_after_s` is the server's Retry-After;
    `unseen`: the server may have processed (and billed) it without our seeing the reply."""

    def __init__(
        self,
        reason: str,
        status: int | None,
        retry_after_s: float | None = None,
        unseen: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s
        self.unseen = unseen


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unparseable: fall back to our own backoff
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP-dates are GMT by definition
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _transports(n: int) -> list[httpx.AsyncHTTPTransport]:
    """n transports (httpx's connection pools) of one connection each, sharing an SSL context.

    Why not one pool of n: httpcore 1.0 walks all of a pool's connections twice per request
    (to assign it, and again when its reply is closed), testing each idle one for a closed
    socket with two system calls (encode/httpcore#1035): at 64 connections in one pool the
    client reached a fifth of the throughput the server allows, and pools of 16 still cost a
    sixth of its CPU per call at concurrency 32. A pool of one connection tests only its own,
    which still catches a keep-alive connection the server closed."""
    ssl_context = httpx.create_ssl_context()  # about 20 ms each: one for all of them
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return [
        httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits, retries=_CONNECT_RETRIES)
        for _ in range(n)
    ]


def _headers(key: str | None) -> dict[str, str]:
    """What httpx.AsyncClient would send by default, and the key if there is one."""
    headers = {
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",  # the encodings httpx decodes without extras
        "User-Agent": f"python-httpx/{httpx.__version__}",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _skip_absent_sniffio() -> None:
    """Let httpcore's `import sniffio`, repeated several times per request, fail at once.

    httpcore 1.0 asks sniffio which async library is running (current_async_library) each
    time it makes a lock or a cancellation shield, about five times per request, importing it
    each time. anyio 4 no longer installs sniffio, and Python does not remember a failed import:
    each one searches every sys.path entry again, about 0.2 ms, a third of this client's CPU
    per call (measured at concurrency 32). A None in sys.modules is Python's own "known absent"
    entry: the import raises ModuleNotFoundError at once, as it would have after the search,
    and httpcore takes asyncio, as it would have. With sniffio installed this does nothing
    (installing it, a dependency of the project, is the cleaner way to the same speed)."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def key_problem(key: str) -> str | None:
    """Why a key cannot go into an HTTP header (said without showing the key), or None."""
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        return (
            "holds whitespace or characters an HTTP header cannot carry (a trailing "
            "newline from a .env file?)"
        )
    return None


def _read_key(settings: EndpointSettings) -> str | None:
    if settings.api_key_env is None:
        return None
    key = os.environ.get(settings.api_key_env, "")
    name = settings.api_key_env
    if not key:
        raise UserError(
            f"judge endpoint {settings.base_url}: the environment variable {name} (setting "
            f"api_key_env) is not set or empty; export {name}=<your API key>, or set "
            "api_key_env to null for an endpoint that needs no key"
        )
    problem = key_problem(key)
    if problem:
        raise UserError(f"judge.api_key_env: the key in {name} {problem}; set it again.")
    return key


class ChatClient:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self._key = _read_key(settings)
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._request_url = httpx.URL(self._url)  # parsed once, not per call
        self._headers = _headers(self._key)
        self._extensions = {"timeout": httpx.Timeout(settings.timeout_s).as_dict()}
        n = settings.max_concurrency
        # One transport per connection, as many as the slots admit calls: an admitted call
        # always finds one idle (see _transports for why not one pool of n).
        self._transports = _transports(n)
        self._idle = list(self._transports)
        self._slots = asyncio.Semaphore(n)
        rpm = settings.requests_per_minute
        self._limiter = AsyncLimiter(1, 60.0 / rpm) if rpm else None
        _skip_absent_sniffio()

    def __repr__(self) -> str:
        return f"ChatClient(url={self._url!r}, model={self.settings.model!r})"

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()

    async def complete(
        self,
        messages: list[dict[str, str]],
        temperature: float,
        max_tokens: int,
        logprobs: int | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> ChatReply:
        """One chat completion, retried per the module's policy; JudgeCallError if it fails.

        `before_send` runs once, when the request is about to leave for the first time: after
        the concurrency slot and the rate limit, so a caller recording its sending there
        records only what is really sent (not calls queued behind the concurrency limit). An
        exception it raises propagates and the request is never sent."""
        payload: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if logprobs is not None:
            payload["logprobs"] = True
            payload["top_logprobs"] = logprobs
        body, retries, maybe_repaid = await self._with_retries(payload, before_send)
        return _to_reply(body, retries, maybe_repaid)

    async def _with_retries(
        self, payload: dict[str, Any], before_send: Callable[[], None] | None
    ) -> tuple[dict[str, Any], int, int]:
        """The reply body, the retries it took and how many of them re-sent after an unseen
        reply; JudgeCallError once retrying is pointless."""
        retries = unseen = 0
        last: _RetryableError | None = None
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait_s,
            retry=retry_if_exception_type(_RetryableError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    retries = attempt.retry_state.attempt_number - 1
                    unseen += 1 if last is not None and last.unseen else 0
                    try:
                        first = before_send if retries == 0 else None
                        return await self._attempt(payload, retries, first), retries, unseen
                    except _RetryableError as exc:
                        last = exc
                        raise
        except _RetryableError as exc:
            reason = f"{self._url}: gave up after {retries} retries; last error: {exc.reason}"
            raise JudgeCallError(reason, retries, exc.status, unseen, exc.unseen) from exc
        except JudgeCallError as exc:  # the server's answer, or nothing sent: not billed
            raise JudgeCallError(exc.reason, exc.retries, exc.status, unseen) from None
        raise AssertionError("tenacity neither returned nor raised")  # unreachable

    def _wait_s(self, state: RetryCallState) -> float:
        s = self.settings
        # Full jitter (AWS architecture blog): spreads retries of many callers hit by one 429.
        ceiling = min(s.backoff_max_s, s.backoff_initial_s * 2 ** (state.attempt_number - 1))
        wait = random.uniform(0.0, ceiling)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableError) and exc.retry_after_s is not None:
            wait = max(wait, exc.retry_after_s)
        return min(wait, s.backoff_max_s)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, _RetryableError) else repr(exc)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "judge call to %s failed (%s); retry %d of %d in %.2fs",
            self._url,
            reason,
            state.attempt_number,
            self.settings.max_retries,
            wait,
        )

    async def _attempt(
        self, payload: dict[str, Any], retries: int, before_send: Callable[[], None] | None
    ) -> dict[str, Any]:
        """One HTTP round trip, holding a concurrency slot (not while backing off)."""
        async with self._slots:
            if self._limiter is not None:
                await self._limiter.acquire()
            if before_send is not None:
                before_send()  # synchronous: nothing else runs before the request leaves
            response = await self._post(payload, retries)
        return self._check(response, retries)

    async def _post(self, payload: dict[str, Any], retries: int) -> httpx.Response:
        """The reply, read whole, over an idle connection; a failure as the policy classes it."""
        request = httpx.Request(
            "POST",
            self._request_url,
            json=payload,
            headers=self._headers,
            extensions=self._extensions,
        )
        transport = self._idle.pop()  # never empty: the slots admit one call per transport
        try:
            # A total deadline: httpx's own timeouts are per phase / per read chunk.
            async with asyncio.timeout(self.settings.timeout_s):
                return await _send(transport, request)
        except (TimeoutError, httpx.TimeoutException) as exc:
            reason = f"timed out after {self.settings.timeout_s}s ({type(exc).__name__})"
            raise _RetryableError(reason, None, unseen=_maybe_sent(exc)) from exc
        except httpx.UnsupportedProtocol as exc:
            raise JudgeCallError(f"{self._url}: {exc}", retries, None) from None
        except httpx.TransportError as exc:
            reason = f"connection error: {type(exc).__name__}: {exc}"
            raise _RetryableError(reason, None, unseen=_maybe_sent(exc)) from exc
        finally:
            self._idle.append(transport)

    def _scrub(self, text: str) -> str:
        if self._key and len(self._key) >= _MIN_SCRUB_LEN:
            return text.replace(self._key, "***")
        return text

    def _check(self, response: httpx.Response, retries: int) -> dict[str, Any]:
        """The parsed body of a good reply; raises the error the status calls for."""
        status, text = response.status_code, self._scrub(response.text)
        if status == 200:
            return _parse_ok_body(text)
        message = f"HTTP {status}: {_server_message(text)}"
        if status in RETRYABLE_STATUSES or 500 <= status <= 599:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise _RetryableError(message, status, retry_after, status in _UNSEEN_STATUSES)
        raise JudgeCallError(f"{self._url}: {message}{self._hint(status)}", retries, status)

    def _hint(self, status: int) -> str:
        """What the user should do about a non-retryable status (CONTRIBUTING.md, principle 7)."""
        env = self.settings.api_key_env
        if status in (401, 403) and env:
            return f"; check the API key in the environment variable {env} (api_key_env)"
        if status in (401, 403):
            return "; the endpoint wants a key: set api_key_env to the NAME of a variable with it"
        if status == 404:
            return f"; check base_url (usually ends in /v1) and model {self.settings.model!r}"
        return ""


async def _send(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
    """Send and read the whole reply; the connection goes back to its transport in any case."""
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


def _maybe_sent(exc: Exception) -> bool:
    """Whether a failed attempt may have reached the server: not if no connection was opened.

    The call's own deadline (TimeoutError) may fire in any phase, so it counts as sent."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _parse_ok_body(text: str) -> dict[str, Any]:
    """A 200 we cannot read was still answered, and likely billed: its errors are unseen."""
    try:
        body = json.loads(text)
    except ValueError:
        reason = f"malformed response: not JSON: {text[:200]!r}"
        raise _RetryableError(reason, 200, unseen=True) from None
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise _RetryableError(f"malformed response: no choices: {text[:200]!r}", 200, unseen=True)
    if not isinstance(choices[0].get("message"), dict):
        reason = f"malformed response: choices[0] has no message: {text[:200]!r}"
        raise _RetryableError(reason, 200, unseen=True)
    return body


def _server_message(text: str) -> str:
    """The error message of OpenAI ({"error": {"message"}}), vLLM ({"message"}) or FastAPI."""
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300] or "(empty body)"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        for value in (error, body.get("message"), body.get("detail")):
            if value:
                return str(value)[:300]
    return text[:300]


def _to_reply(body: dict[str, Any], retries: int, maybe_repaid: int) -> ChatReply:
    choice = body["choices"][0]
    usage = body.get("usage")
    if not isinstance(usage, dict):
        usage = {}  # llama.cpp and some proxies omit it
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    return ChatReply(
        text=choice["message"].get("content") or "",
        finish_reason=choice.get("finish_reason"),
        logprobs=content if isinstance(content, list) else None,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        model=body.get("model"),
        retries=retries,
        raw=body,
        maybe_repaid=maybe_repaid,
    )
