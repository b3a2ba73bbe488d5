"""A FAKE `vllm` module for CPU tests: vLLM cannot exist here (it needs CUDA wheels and a
GPU). It records what the backend builds (the engine's settings, SamplingParams, the
LoRARequest, the prompts) and answers with made-up completions shaped as vLLM's RequestOutput
(index, token_ids, finish_reason). Put in sys.modules by `install`."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from ablate.models.chat import END_OF_TURN


class FakeVllm:
    """What the backend asked of the fake vllm module, and the module itself."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.engines: list[dict[str, Any]] = []
        self.generate_calls: list[tuple[list[Any], list[Any], Any]] = []
        self.cleanups = 0

    def completion(self, seed: int, k: int) -> Any:
        """Sample 0 ends with the end-of-turn token; 1 runs to the token limit; 2 ended on a
        stop token that this vLLM left out of the ids (finish_reason says so); and again."""
        ids = self.tokenizer(f"reply {seed} {k}", add_special_tokens=False)["input_ids"]
        eot = self.tokenizer.convert_tokens_to_ids(END_OF_TURN)
        token_ids, reason = {0: ([*ids, eot], "stop"), 1: (ids, "length"), 2: (ids, "stop")}[k % 3]
        return types.SimpleNamespace(index=k, token_ids=tuple(token_ids), finish_reason=reason)

    def modules(self) -> dict[str, types.ModuleType]:
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs: Any) -> None:
                self.kwargs = kwargs

        class LoRARequest:
            def __init__(self, name: str, int_id: int, path: str) -> None:
                self.args = (name, int_id, path)

        class LLM:
            def __init__(self, **kwargs: Any) -> None:
                fake.engines.append(kwargs)

            def generate(
                self, prompts: list[Any], params: list[Any], lora_request: Any = None, **kw: Any
            ) -> list[Any]:
                fake.generate_calls.append((prompts, params, lora_request))
                return [
                    types.SimpleNamespace(
                        # completions out of index order: the backend sorts them
                        outputs=[
                            fake.completion(p.kwargs["seed"], k)
                            for k in reversed(range(p.kwargs["n"]))
                        ]
                    )
                    for p in params
                ]

        def cleanup_dist_env_and_memory(shutdown_ray: bool = False) -> None:
            assert not shutdown_ray
            fake.cleanups += 1

        vllm = types.ModuleType("vllm")
        vllm.LLM = LLM  # type: ignore[attr-defined]
        vllm.SamplingParams = SamplingParams  # type: ignore[attr-defined]
        lora = types.ModuleType("vllm.lora")
        request = types.ModuleType("vllm.lora.request")
        request.LoRARequest = LoRARequest  # type: ignore[attr-defined]
        distributed = types.ModuleType("vllm.distributed")
        distributed.cleanup_dist_env_and_memory = cleanup_dist_env_and_memory  # type: ignore[attr-defined]
        return {
            "vllm": vllm,
            "vllm.lora": lora,
            "vllm.lora.request": request,
            "vllm.distributed": distributed,
        }


def install(monkeypatch: pytest.MonkeyPatch, tokenizer: Any) -> FakeVllm:
    fake = FakeVllm(tokenizer)
    for name, module in fake.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return fake
