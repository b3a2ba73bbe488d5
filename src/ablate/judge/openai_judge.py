"""The API judge: any OpenAI-compatible chat endpoint grades responses (README, "Judging").

Honest by construction (CONTRIBUTING.md, principle 6): every sample gets exactly one judgment,
scored or unscored with a reason; a reply without a verdict gets at most one repair request (the
conversation so far plus "print only the verdict") and, still without one, stays unscored,
never a low score. Every judgment keeps each call's messages, raw reply, usage and parse.

Scores by mode:
- likert: the expected level (1-6) under the judge's log-probabilities where it wrote its
  level (kept as "distribution"), or the written level when the reply has no log-probabilities;
- absolute: excellent 1.0, pass 0.5, fail 0.0 (the grade is kept as "verdict");
- pairwise: asked in both orders (model response as A, then as B) because judges favour a
  position; both orders agreeing give that outcome ("position_consistent": true), disagreeing
  give a tie. win 1.0, tie 0.5, lose 0.0.

Calls are cached by request_key (model, messages, decoding, template version); only complete
replies are stored, raw, and are parsed again on every read, so a new parser needs no calls.
Identical requests in flight at once share one call.

Calls in flight (cache.py, "pending"): each request is recorded in the cache when it leaves
(after its concurrency slot, not while it queues), and its reply is stored the moment it
arrives, with no await in between, before its verdict is parsed or anyone waits on it. The
record is cleared with the stored reply, or when the call failed in a way the server certainly
did not bill: its last attempt got an HTTP error status other than 504, or never opened a
connection (JudgeCallError.maybe_billed is False). After a timeout, a lost connection, an
unreadable 200, a killed process or an unexpected error, it stays: the reply may exist, billed
and unseen. A later run sending that request again counts it in the call record's
"maybe_repaid" (with the client's own retries after such attempts), and so in the accounting's
judge_calls_maybe_repaid.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from ablate.errors import UserError
from ablate.judge import parse  # the module, not its names: a changed parser is picked up
from ablate.judge.accounting import JudgeAccounting
from ablate.judge.cache import CachedReply, JudgeCache, Sending, request_key
from ablate.judge.http_client import ChatClient, EndpointSettings, JudgeCallError
from ablate.judge.modes import JUDGE_MODES, judge_mode
from ablate.judge.modes.spec import JudgeMode
from ablate.judge.prompt import JudgeTemplate
from ablate.records import JudgeCall, Judgment, Sample

NO_REFERENCE = "no reference response for this prompt"
# The pairwise verdict (A, B or tie) from the model's point of view, per order.
_MODEL_FIRST = {"A": "win", "B": "lose", "tie": "tie"}
_REFERENCE_FIRST = {"A": "lose", "B": "win", "tie": "tie"}


@dataclass(frozen=True)
class HttpJudgeSettings:
    endpoint: EndpointSettings
    mode: str  # likert | pairwise | absolute
    template: JudgeTemplate
    temperature: float = 0.0
    max_tokens: int = 1024
    top_logprobs: int | None = 20  # likert only: ask for log-probabilities; None = do not ask
    repair: bool = True  # at most one repair request when a reply has no verdict
    price_prompt_per_million: float | None = None
    price_completion_per_million: float | None = None

    def __post_init__(self) -> None:
        problem = JUDGE_MODES.problem(self.mode)
        if problem:
            raise ValueError(problem)
        # A pairwise template grading a likert run would parse garbage as verdicts.
        if self.template.mode != self.mode:
            raise ValueError(
                f"template {self.template.version!r} is for mode "
                f"{self.template.mode!r}, not {self.mode!r}"
            )

    @property
    def spec(self) -> JudgeMode:
        return judge_mode(self.mode)


class _AnsweredMeanwhile(Exception):
    """Another process stored the reply between our cache miss and our sending: do not send."""

    def __init__(self, reply: CachedReply) -> None:
        super().__init__()
        self.reply = reply


@dataclass(frozen=True)
class _Fetched:
    """A reply and what it cost: no call if cached, its retries, its possible second payments."""

    reply: CachedReply
    cached: bool  # from the cache, or shared with an identical request: no call paid
    retries: int
    maybe_repaid: int


@dataclass(frozen=True)
class _Answer:
    """One question put to the judge: its call records and the verdict they ended with."""

    calls: list[JudgeCall]
    value: str | None
    reason: str | None
    logprobs: list[Any] | None  # of the reply that gave the verdict


class _Asker:
    """Asks one question (with its repair) through the cache and one client; one per run."""

    def __init__(self, settings: HttpJudgeSettings, cache: JudgeCache) -> None:
        self.settings, self.cache = settings, cache
        # Opened at the first cache miss: a run served from the cache needs no API key.
        self._client: ChatClient | None = None
        self.logprobs = settings.top_logprobs if settings.mode == "likert" else None
        self.decoding = {
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "top_logprobs": self.logprobs,
        }
        self._in_flight: dict[str, asyncio.Task[_Fetched]] = {}

    async def ask(self, messages: list[dict[str, str]]) -> _Answer:
        first, reply, why = await self._call(messages, repair=False)
        if first["verdict"] is not None or first["error"] is not None or not self.settings.repair:
            return _Answer([first], first["verdict"], why, _logprobs(reply))
        repair: list[dict[str, str]] = [
            *messages,
            {"role": "assistant", "content": first["reply"] or ""},
            # Part of the repair request's messages, hence of its cache key: editing re-asks.
            {"role": "user", "content": self.settings.spec.repair},
        ]
        second, repaired, why_again = await self._call(repair, repair=True)
        if why_again is not None and second["error"] is None:
            why_again = f"{why}; after one repair request: {why_again}"
        return _Answer([first, second], second["verdict"], why_again, _logprobs(repaired))

    async def _call(
        self, messages: list[dict[str, str]], repair: bool
    ) -> tuple[JudgeCall, CachedReply | None, str | None]:
        """One call record, the reply it parsed (None if the call failed), why no verdict."""
        record: JudgeCall = {
            "messages": messages,
            "reply": None,
            "usage": None,
            "served_model": None,
            "cached": False,
            "retries": 0,
            "maybe_repaid": 0,  # sendings of this request whose reply may have been billed unseen
            "repair": repair,
            "verdict": None,
            "error": None,
        }
        try:
            fetched = await self._fetch(messages)
        except JudgeCallError as exc:  # errors are never cached: the next run asks again
            error = f"judge call failed: {exc.reason}"
            record.update(
                {"retries": exc.retries, "maybe_repaid": exc.maybe_repaid, "error": error}
            )
            return record, None, record["error"]
        reply = fetched.reply
        verdict = parse.parse_verdict(self.settings.mode, reply.text)
        usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens}
        record.update(
            {
                "reply": reply.text,
                "usage": usage,
                "served_model": reply.model,
                "cached": fetched.cached,
                "retries": fetched.retries,
                "maybe_repaid": fetched.maybe_repaid,
                "verdict": verdict.value,
            }
        )
        why = None if verdict.reason is None else verdict.reason + self._cut_off(reply)
        return record, reply, why

    async def _fetch(self, messages: list[dict[str, str]]) -> _Fetched:
        """The reply, from the cache, an identical call in flight, or the network."""
        # The endpoint is part of the model's identity: one model name on two local servers
        # (llama.cpp, Ollama) can be two different sets of weights.
        endpoint = self.settings.endpoint
        model_id = f"{endpoint.base_url.rstrip('/')}|{endpoint.model}"
        key = request_key(model_id, messages, self.decoding, self.settings.template.version)
        hit = self.cache.get(key)
        if hit is not None:
            return _Fetched(hit, True, 0, 0)
        shared = self._in_flight.get(key)
        if shared is None:
            self._in_flight[key] = asyncio.ensure_future(self._network(key, messages))
            return await self._in_flight[key]
        try:  # an identical request is on the wire: wait for it rather than pay twice
            return _Fetched((await shared).reply, True, 0, 0)
        except JudgeCallError as exc:  # its retries are already counted by its owner
            raise JudgeCallError(exc.reason, 0, exc.status) from None

    async def _network(self, key: str, messages: list[dict[str, str]]) -> _Fetched:
        """Send one request, recorded in the cache before it leaves and stored on arrival."""
        s = self.settings
        if self._client is None:
            # Before the record: a missing key (UserError) sends nothing and records nothing.
            self._client = ChatClient(s.endpoint)  # its pools belong to this run's event loop
        sendings: list[Sending] = []

        def record() -> None:  # when the request leaves, not while it queues for a slot
            sendings.append(self.cache.begin_sending(key))
            if sendings[-1].reply is not None:  # another process stored it since our miss
                raise _AnsweredMeanwhile(sendings[-1].reply)

        try:
            reply = await self._client.complete(
                messages, s.temperature, s.max_tokens, self.logprobs, before_send=record
            )
        except _AnsweredMeanwhile as meanwhile:
            return _Fetched(meanwhile.reply, True, 0, 0)
        except JudgeCallError as exc:
            raise self._failed(sendings, exc) from None
        [sending] = sendings
        # Nothing awaits between the reply's arrival and this write: a reply in memory only
        # is one a killed process pays for again.
        stored = CachedReply(
            reply.text, reply.logprobs, reply.prompt_tokens, reply.completion_tokens, reply.model
        )
        self.cache.put(key, stored)  # clears the pending record in the same transaction
        return _Fetched(stored, False, reply.retries, sending.unseen_before + reply.maybe_repaid)

    def _failed(self, sendings: list[Sending], exc: JudgeCallError) -> JudgeCallError:
        """The error to record; the pending record goes unless the server may have billed it.

        `sendings` holds the one record made when the request first left (none if it never
        did)."""
        unseen_before = sum(sending.unseen_before for sending in sendings)
        if not exc.maybe_billed:
            for sending in sendings:
                self.cache.forget_sending(sending)
        repaid = unseen_before + exc.maybe_repaid
        return JudgeCallError(exc.reason, exc.retries, exc.status, repaid, exc.maybe_billed)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _cut_off(self, reply: CachedReply) -> str:
        # From usage, not finish_reason, so a reply read from the cache says it too.
        limit = self.settings.max_tokens
        if reply.completion_tokens is not None and reply.completion_tokens >= limit:
            return f" (the reply used all max_tokens={limit}: cut off? raise max_tokens)"
        return ""


def _logprobs(reply: CachedReply | None) -> list[Any] | None:
    return None if reply is None else reply.logprobs


class OpenAIJudge:
    def __init__(self, settings: HttpJudgeSettings, cache: JudgeCache) -> None:
        self.settings, self.cache = settings, cache
        self.model_id = settings.endpoint.model
        self._accounting = JudgeAccounting()

    def judge(
        self, samples: list[Sample], references: dict[str, str] | None = None
    ) -> list[Judgment]:
        """One judgment per sample, in order; references (prompt_id -> text) for pairwise."""
        if self.settings.spec.paired and references is None:
            raise ValueError("pairwise judging needs the reference responses (references=...)")
        judgments = asyncio.run(self._judge_all(samples, references or {}))
        for judgment in judgments:
            self._accounting.add(judgment)
        return judgments

    def accounting(self) -> dict[str, float | int]:
        """judge_* metrics for everything this judge judged so far (see accounting.py)."""
        s = self.settings
        return self._accounting.as_metrics(
            s.price_prompt_per_million, s.price_completion_per_million
        )

    async def _judge_all(self, samples: list[Sample], references: dict[str, str]) -> list[Judgment]:
        asker = _Asker(self.settings, self.cache)
        try:
            if self.settings.spec.paired:
                jobs = [self._pairwise(asker, s, references.get(s["prompt_id"])) for s in samples]
            else:
                jobs = [self._single(asker, s) for s in samples]
            return list(
                await asyncio.gather(
                    *(self._guarded(j, s) for j, s in zip(jobs, samples, strict=True))
                )
            )
        finally:
            await asker.aclose()

    async def _guarded(self, job: Awaitable[Judgment], sample: Sample) -> Judgment:
        """One sample's judgment, whatever its reply held: an unexpected failure while judging
        it is that sample's failed call (unscored, retried on resume), never the whole trial's."""
        try:
            judgment = await job
        except UserError:
            raise  # a setting (the key, the endpoint) that no sample can get past
        except Exception as exc:
            judgment = self._base(sample, [])
            judgment["reason"] = f"judge call failed: unexpected reply ({type(exc).__name__})"
        return judgment

    def _base(self, sample: Sample, calls: list[JudgeCall]) -> Judgment:
        """A judgment, unscored until a verdict is filled in."""
        served = next((c["served_model"] for c in calls if c["served_model"]), None)
        return {
            "prompt_id": sample["prompt_id"],
            "sample": sample["sample"],
            "score": None,
            "scored": False,
            "reason": None,
            "verdict": None,
            "judge_backend": "openai",
            "judge_model": self.model_id,
            "served_model": served,
            "mode": self.settings.mode,
            "template_version": self.settings.template.version,
            "parser_version": parse.PARSER_VERSION,
            "calls": calls,
        }

    async def _single(self, asker: _Asker, sample: Sample) -> Judgment:
        """The judgment of one response (a mode that is not paired)."""
        template, spec = self.settings.template, self.settings.spec
        answer = await asker.ask(
            template.render(question=sample["prompt"], answer=sample["response"])
        )
        judgment = self._base(sample, answer.calls)
        if self.settings.mode == "likert":
            judgment["distribution"] = None
        if answer.value is None:
            return {**judgment, "reason": answer.reason}
        if spec.scores is not None:
            return {
                **judgment,
                "verdict": answer.value,
                "scored": True,
                "score": spec.scores[answer.value],
            }
        # The distribution is only read where the text gave a verdict: no verdict, no score.
        distribution = parse.likert_from_logprobs(answer.logprobs)
        score = (
            float(answer.value)
            if distribution is None
            else sum(int(level) * p for level, p in distribution.items())
        )
        return {
            **judgment,
            "verdict": answer.value,
            "scored": True,
            "score": score,
            "distribution": distribution,
        }

    async def _pairwise(self, asker: _Asker, sample: Sample, reference: str | None) -> Judgment:
        """Model response against the reference, asked in both orders."""
        if reference is None:
            unasked: Judgment = {
                **self._base(sample, []),
                "position_consistent": None,
                "order_verdicts": None,
            }
            return {**unasked, "reason": NO_REFERENCE}
        render, question = self.settings.template.render, sample["prompt"]
        model_first, reference_first = await asyncio.gather(
            asker.ask(render(question=question, answer_a=sample["response"], answer_b=reference)),
            asker.ask(render(question=question, answer_a=reference, answer_b=sample["response"])),
        )
        for order, answer in (("model_first", model_first), ("reference_first", reference_first)):
            for call in answer.calls:
                call["order"] = order
        judgment: Judgment = {
            **self._base(sample, model_first.calls + reference_first.calls),
            "position_consistent": None,
            "order_verdicts": None,  # (model first, reference first) outcomes once both parse
        }
        for order, answer in (("model first", model_first), ("reference first", reference_first)):
            if answer.value is None:
                return {**judgment, "reason": f"{order} order: {answer.reason}"}
        outcomes = (
            _MODEL_FIRST[str(model_first.value)],
            _REFERENCE_FIRST[str(reference_first.value)],
        )
        # Disagreeing orders mean the verdict followed the position, not the responses: a tie.
        outcome = outcomes[0] if outcomes[0] == outcomes[1] else "tie"
        return {
            **judgment,
            "verdict": outcome,
            "scored": True,
            "score": (self.settings.spec.scores or {})[outcome],
            "position_consistent": outcomes[0] == outcomes[1],
            "order_verdicts": list(outcomes),
        }
