"""What judging cost: calls, cache hits, retries, repairs, unscored replies, tokens and money.

Everything is counted from the judgment records themselves (their "calls" lists), so the
numbers can be recomputed from a saved judgments file and never disagree with it.

Tokens: judge_prompt_tokens and judge_completion_tokens count only replies that came over
the network in this run (paid for); replies served from the cache are counted apart as
judge_cached_prompt_tokens / judge_cached_completion_tokens (what they cost when first
paid), and judge_cost_usd counts only the paid tokens. A failed call's tokens are unknown
(the server sent no usage) and count nowhere, though a provider may bill them.

judge_calls_maybe_repaid counts sendings of a request that may have been billed without our
seeing the reply (the process was killed while the call was in flight, the call timed out after
sending, its connection was lost, its 200 could not be read) and that were then sent again, by
this run or a later one: each is counted once, by the run that sent the request again, from
the call records' "maybe_repaid". They are possible, not certain, second payments: an upper
bound on the calls paid twice (see cache.py, "Calls in flight").

Metrics whose value is undefined are left out rather than logged as None or NaN, so every
value can go to MLflow as is: judge_cost_usd without both prices, and
judge_position_consistency before any pairwise judgment was scored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ablate.records import JudgeCall, Judgment

_OUTCOME_FIELD = {"win": "wins", "tie": "ties", "lose": "losses"}


@dataclass
class JudgeAccounting:
    judged: int = 0  # judgments (one per sample)
    unscored: int = 0
    calls: int = 0  # network requests that returned a reply
    failed_calls: int = 0  # requests that failed for good (after the client's retries)
    cache_hits: int = 0  # replies served from the cache (or shared with an identical request)
    retries: int = 0  # retries of returned and of failed requests
    maybe_repaid: int = 0  # sendings whose reply may have been billed unseen, then sent again
    repairs: int = 0  # repair requests asked, whether paid or served from the cache
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    pairwise_judged: int = 0  # pairwise judgments, scored or not
    pairs: int = 0  # scored pairwise judgments
    consistent_pairs: int = 0  # ... whose two orders agreed
    wins: int = 0
    ties: int = 0
    losses: int = 0

    def add(self, judgment: Judgment) -> None:
        """Count one judgment record and every call it made."""
        self.judged += 1
        self.unscored += 0 if judgment.get("scored") else 1
        for call in judgment.get("calls") or []:
            self._add_call(call)
        if judgment.get("mode") == "pairwise":
            self._add_pair(judgment)

    def _add_pair(self, judgment: Judgment) -> None:
        self.pairwise_judged += 1
        if judgment.get("scored"):
            self.pairs += 1
            self.consistent_pairs += 1 if judgment.get("position_consistent") else 0
            outcome = _OUTCOME_FIELD[str(judgment.get("verdict"))]
            setattr(self, outcome, getattr(self, outcome) + 1)

    def _add_call(self, call: JudgeCall) -> None:
        self.retries += int(call.get("retries") or 0)
        self.maybe_repaid += int(call.get("maybe_repaid") or 0)  # failed calls' too
        self.repairs += 1 if call.get("repair") else 0
        if call.get("error") is not None:
            self.failed_calls += 1
            return
        usage = call.get("usage") or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        if call.get("cached"):
            self.cache_hits += 1
            self.cached_prompt_tokens += prompt
            self.cached_completion_tokens += completion
        else:
            self.calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion

    def merge(self, other: JudgeAccounting) -> JudgeAccounting:
        """A new accounting holding both (e.g. the trials of one sweep)."""
        return JudgeAccounting(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def cost_usd(
        self, price_prompt_per_million: float | None, price_completion_per_million: float | None
    ) -> float | None:
        """Dollars paid for the tokens of this run's network replies; None without both prices."""
        if price_prompt_per_million is None or price_completion_per_million is None:
            return None
        return (
            self.prompt_tokens * price_prompt_per_million
            + self.completion_tokens * price_completion_per_million
        ) / 1_000_000

    def as_metrics(
        self,
        price_prompt_per_million: float | None = None,
        price_completion_per_million: float | None = None,
    ) -> dict[str, float | int]:
        """Metric names prefixed judge_ (see the module docstring for what is left out)."""
        metrics: dict[str, float | int] = {
            "judge_judged": self.judged,
            "judge_calls": self.calls,
            "judge_failed_calls": self.failed_calls,
            "judge_calls_maybe_repaid": self.maybe_repaid,
            "judge_cache_hits": self.cache_hits,
            "judge_retries": self.retries,
            "judge_repairs": self.repairs,
            "judge_unscored": self.unscored,
            # 0/0 is reported as 0.0: nothing judged is nothing unscored; judge_judged says so.
            "judge_unscored_rate": self.unscored / self.judged if self.judged else 0.0,
            "judge_prompt_tokens": self.prompt_tokens,
            "judge_completion_tokens": self.completion_tokens,
            "judge_cached_prompt_tokens": self.cached_prompt_tokens,
            "judge_cached_completion_tokens": self.cached_completion_tokens,
        }
        cost = self.cost_usd(price_prompt_per_million, price_completion_per_million)
        if cost is not None:
            metrics["judge_cost_usd"] = cost
        if self.pairs:
            metrics["judge_position_consistency"] = self.consistent_pairs / self.pairs
        if self.pairwise_judged:
            metrics.update(judge_wins=self.wins, judge_ties=self.ties, judge_losses=self.losses)
        return metrics
