"""The entropy of a model's own next-token distribution at each step of transformers'
generate(), for the branching factor (ablate.branching), without keeping the logits.

generate(output_logits=True) would hand back every step's raw logits at once: steps x rows x
vocabulary floats, 2048 x 40 x 32k x 4 bytes = 10 GB for one LIMA batch (four times that
with a 128k vocabulary). Here each step's logits become one entropy per row as the step runs:
a forward hook on the model reads the raw logits (before the repetition penalty, the
temperature and top-p, which generate applies after the forward pass), and a logits processor,
which generate calls exactly once per new token, files the latest forward's entropies as that
token's. So a prefill split in chunks, or a forward whose token is never kept, cannot shift
the steps; and the processor hands the scores back untouched and draws no random number, so
the samples are those drawn without it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def next_token_entropy(logits: Any) -> Any:
    """Entropy (nats) of softmax(logits) over the last axis, computed in float32; a logit of
    -inf (a masked token) adds 0."""
    import torch

    probs = torch.softmax(logits.float(), dim=-1)
    return torch.special.entr(probs).sum(dim=-1)


class EntropyRecorder:
    """Per generated token, each row's next-token entropy (see the module's docstring)."""

    def __init__(self) -> None:
        self.steps: list[Any] = []  # one tensor of rows per new token, on the model's device
        self._latest: Any = None

    def on_forward(self, module: Any, args: Any, output: Any) -> None:
        logits = output.logits if hasattr(output, "logits") else output[0]
        self._latest = next_token_entropy(logits[:, -1])  # the next token's position

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.steps.append(self._latest)
        return scores

    def rows(self, n_rows: int, width: int) -> list[list[float]]:
        """n_rows x width entropies, one row per generated sequence; a step past the output's
        width (a token generate drew but did not keep) is dropped."""
        import torch

        if len(self.steps) < width:
            raise RuntimeError(f"{len(self.steps)} entropy steps recorded for {width} tokens")
        if width == 0:
            return [[] for _ in range(n_rows)]
        table: list[list[float]] = torch.stack(self.steps[:width], dim=1).tolist()
        return table


@contextmanager
def recording_entropy(model: Any, enabled: bool) -> Iterator[EntropyRecorder | None]:
    """A recorder hooked to `model` while the block runs (None when not enabled): hand
    `processors(recorder)` to generate() as its logits_processor."""
    if not enabled:
        yield None
        return
    recorder = EntropyRecorder()
    handle = model.register_forward_hook(recorder.on_forward)
    try:
        yield recorder
    finally:
        handle.remove()


def processors(recorder: EntropyRecorder | None) -> Any:
    """generate()'s logits_processor argument: the recorder, or None (generate's default)."""
    if recorder is None:
        return None
    from transformers import LogitsProcessorList

    return LogitsProcessorList([recorder])
