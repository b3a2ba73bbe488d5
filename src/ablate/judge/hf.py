"""The in-process judge: a Hugging Face causal LM scores each response on the 1-6 scale.

The score is the expected level under the judge's next-token probabilities of the six level
tokens (renormalised over those six), so every response gets a score and the full
distribution is kept; `mass` records how much probability the judge put on valid levels at
all, which says how far to trust the score (a tiny judge puts almost none there).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from ablate.config.schema import JudgeConfig
from ablate.judge.modes import judge_mode
from ablate.judge.rubric import LIKERT_LEVELS, render_likert
from ablate.models.load import load_causal_lm, load_tokenizer
from ablate.records import Judgment, Sample


def level_token_ids(tokenizer: Any, prefix: str) -> list[int]:
    """The token that continues `prefix` with each level, as the tokenizer would split it."""
    base = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    ids = []
    for level in LIKERT_LEVELS:
        for candidate in (f" {level}", level):
            full = tokenizer(prefix + candidate, add_special_tokens=False)["input_ids"]
            extra = full[len(base) :]
            if full[: len(base)] == base and len(extra) == 1:
                ids.append(extra[0])
                break
        else:
            raise ValueError(f"judge tokenizer has no single token for level {level}")
    return ids


class HFJudge:
    def __init__(
        self,
        model: str,
        dtype: str,
        batch_size: int,
        max_input_tokens: int,
        device: str,
        min_level_mass: float = 0.0,
    ) -> None:
        self.model_id = model
        self.tokenizer = load_tokenizer(model)
        self.model = load_causal_lm(model, None, dtype, device).eval()
        self.batch_size, self.max_input_tokens, self.device = batch_size, max_input_tokens, device
        self.min_level_mass = min_level_mass
        self.level_ids = level_token_ids(self.tokenizer, render_likert("q", "a"))
        # Causal LMs of transformers 4.50+ can return the last position's logits only.
        takes = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        self._last_only = {"logits_to_keep": 1} if takes else {}

    @classmethod
    def from_config(cls, cfg: JudgeConfig, device: str, cache_path: Path | None = None) -> HFJudge:
        # An in-process judge costs no calls: nothing to cache across runs.
        return cls(
            cfg.model, cfg.dtype, cfg.batch_size, cfg.max_input_tokens, device, cfg.min_level_mass
        )

    def _render(self, question: str, answer: str) -> tuple[str, bool, list[int]]:
        """The judge prompt, with the answer cut (never the rubric) to fit max_input_tokens,
        and its token ids (tokenized once: the batches are built from them)."""
        prompt = render_likert(question, answer)
        ids = self.tokenizer(prompt)["input_ids"]
        excess = len(ids) - self.max_input_tokens
        if excess <= 0:
            return prompt, False, ids
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        marker = " [...]"
        room = (
            len(answer_ids)
            - excess
            - len(self.tokenizer(marker, add_special_tokens=False)["input_ids"])
        )
        # A byte-level cut can split a character; drop the broken tail.
        cut = self.tokenizer.decode(answer_ids[: max(0, room)]).rstrip("\ufffd")
        prompt = render_likert(question, cut + marker)
        return prompt, True, self.tokenizer(prompt)["input_ids"]

    def _level_probabilities(self, prompts: list[list[int]]) -> list[list[float]]:
        """The six levels' next-token probabilities after each prompt (token ids)."""
        import torch

        self.tokenizer.padding_side = "left"  # the last position is the next-token position
        encoded = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(
            self.device
        )
        with torch.no_grad():
            # Only the last position's logits: all of them would be batch x length x vocabulary
            # (about 10 GB in bf16 for 8 x 4,096 tokens and a 152k vocabulary).
            logits = self.model(**encoded, **self._last_only).logits[:, -1, :].float()
        probs = torch.softmax(logits, dim=-1)[:, self.level_ids]
        return probs.tolist()

    def accounting(self) -> dict[str, Any]:
        return {}  # in-process: no calls, no tokens paid for

    def judge(
        self, samples: list[Sample], references: dict[str, str] | None = None
    ) -> list[Judgment]:
        rendered = [self._render(s["prompt"], s["response"]) for s in samples]
        # Batches of similar lengths: little padding to compute.
        order = sorted(range(len(samples)), key=lambda i: len(rendered[i][2]))
        probs: dict[int, list[float]] = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            found = self._level_probabilities([rendered[i][2] for i in batch])
            probs |= dict(zip(batch, found, strict=True))
        return [
            self._judgment(sample, prompt, cut, probs[i])
            for i, (sample, (prompt, cut, _)) in enumerate(zip(samples, rendered, strict=True))
        ]

    def _judgment(self, sample: Sample, prompt: str, cut: bool, probs: list[float]) -> Judgment:
        mass = sum(probs)
        scored = mass > 0 and mass >= self.min_level_mass
        distribution = {
            level: (p / mass if mass > 0 else 0.0)
            for level, p in zip(LIKERT_LEVELS, probs, strict=True)
        }
        score = sum(int(level) * p for level, p in distribution.items()) if scored else None
        reason = (
            None
            if scored
            else (
                f"the judge put {mass:.4f} of its next-token probability on the six levels, "
                f"below judge.min_level_mass={self.min_level_mass}"
            )
        )
        return {
            "prompt_id": sample["prompt_id"],
            "sample": sample["sample"],
            "score": score,
            "scored": scored,
            "reason": reason,
            "distribution": distribution,
            "level_mass": mass,
            "judge_backend": "hf",
            "judge_model": self.model_id,
            "rubric_version": judge_mode("likert").version,
            "judge_prompt": prompt,
            "answer_truncated": cut,
        }
