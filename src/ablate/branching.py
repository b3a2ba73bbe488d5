"""The branching factor of a model's samples (pure): how many next tokens the model keeps open,
on average, along its own responses (arXiv 2506.17871: alignment lowers it 2-5x).

At each generated position t of a sample, H_t is the entropy (nats) of the model's own
next-token distribution (temperature 1, no top-p, no repetition penalty) given the prompt and
the sample's tokens before t; the stop token's position counts (stopping is one of the
branches), the padding after it does not. A sample keeps the sums of H_t over its positions
and over its first FIRST_POSITIONS ones (`sample_entropy`); a prompt's mean entropy pools its
samples' positions; the trial's branching factor is exp(mean over prompts of those means):
the geometric-mean perplexity of the next-token distribution, e.g. 4 for a model choosing
uniformly among 4 tokens at every step. Prompts weigh equally, so a prompt with long answers
does not outweigh one with short answers; its interval resamples prompts (the samples of one
prompt share it), and exp carries the mean entropy's interval bounds over unchanged in order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypedDict

from ablate.records import Sample

# The first positions of a response: its opening, where a tuned model settles on its answer's
# form ("Sure! Here is..."). 16 tokens: about a sentence's opening, so the figure stays about
# the start while every response of more than a few words has all of them.
FIRST_POSITIONS = 16


class SampleEntropy(TypedDict):
    """A sample's entropy sums (the optional fields of `records.Sample`)."""

    entropy_sum: float  # sum of H_t (nats) over the response's positions, its stop token's too
    entropy_tokens: int
    entropy_first_sum: float  # the same over its first FIRST_POSITIONS positions
    entropy_first_tokens: int


ENTROPY_FIELDS = tuple(SampleEntropy.__annotations__)


def sample_entropy(entropies: Sequence[float], positions: int) -> SampleEntropy:
    """A sample's sums from its row of per-step entropies: the first `positions` are its own
    (its tokens and its stop token), the rest were computed while its batch went on and are
    dropped."""
    if not 0 <= positions <= len(entropies):
        raise ValueError(f"{positions} positions of a row of {len(entropies)} entropies")
    own = entropies[:positions]
    first = own[:FIRST_POSITIONS]
    return {
        "entropy_sum": float(sum(own)),
        "entropy_tokens": positions,
        "entropy_first_sum": float(sum(first)),
        "entropy_first_tokens": len(first),
    }


def prompt_mean_entropies(samples: Sequence[Sample], first: bool = False) -> list[float] | None:
    """Each prompt's mean entropy per position over its samples (prompts in first-seen order);
    None when a sample lacks its sums (written before they were kept, or by the vllm backend,
    which sees only the top log-probabilities)."""
    sums: dict[str, float] = defaultdict(float)
    tokens: dict[str, int] = defaultdict(int)
    for sample in samples:
        if first:
            total, count = sample.get("entropy_first_sum"), sample.get("entropy_first_tokens")
        else:
            total, count = sample.get("entropy_sum"), sample.get("entropy_tokens")
        if total is None or count is None:
            return None
        sums[sample["prompt_id"]] += total
        tokens[sample["prompt_id"]] += count
    return [sums[p] / tokens[p] for p in sums if tokens[p] > 0]


def entropy_by_prompt(samples: Sequence[Sample]) -> dict[str, float] | None:
    """prompt id -> its mean entropy per position over its samples; None as above."""
    sums: dict[str, float] = defaultdict(float)
    tokens: dict[str, int] = defaultdict(int)
    for sample in samples:
        total, count = sample.get("entropy_sum"), sample.get("entropy_tokens")
        if total is None or count is None:
            return None
        sums[sample["prompt_id"]] += total
        tokens[sample["prompt_id"]] += count
    return {p: sums[p] / tokens[p] for p in sums if tokens[p] > 0}


def branching_metrics(
    samples: Sequence[Sample], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    """branching_factor and branching_factor_first with their _ci_low/_ci_high (bounds left
    out with fewer than 2 prompts: no spread between prompts is seen), and branching_prompts.
    Nothing when the samples carry no entropy sums (the score stage then writes none)."""
    from ablate.stats import cluster_bootstrap_mean

    overall, opening = prompt_mean_entropies(samples), prompt_mean_entropies(samples, True)
    if not overall or not opening:
        return {}
    metrics: dict[str, Any] = {"branching_prompts": len(overall)}
    for name, means in (("branching_factor", overall), ("branching_factor_first", opening)):
        metrics[name] = math.exp(sum(means) / len(means))
        if len(means) >= 2:
            # One value per prompt: the bootstrap's mean over prompts (BCa, prompts resampled).
            interval = cluster_bootstrap_mean([[m] for m in means], confidence, resamples, seed)
            metrics[f"{name}_ci_low"] = math.exp(interval.low)
            metrics[f"{name}_ci_high"] = math.exp(interval.high)
    return metrics
