"""bench_training's MFU arithmetic (its GPU part cannot run here): FLOPs per token counted by
hand on a small Llama, and the peak looked up by device name."""

from __future__ import annotations

import pytest

from benchmarks.bench_training import flops_per_token, peak_tflops


@pytest.mark.parametrize("tied", [True, False])
def test_flops_per_token_counts_the_multiplying_weights_and_attention(tied: bool) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=tied,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    # A layer: q, k, v, o (4 x 32 x 32), gate, up, down (3 x 32 x 64), two norms (2 x 32);
    # the final norm 32; the embedding 100 x 32, and an untied output layer another 100 x 32.
    layer = 4 * 32 * 32 + 3 * 32 * 64 + 2 * 32
    multiplying = 2 * layer + 32 + 100 * 32  # the output layer multiplies, tied or not
    lengths = [10, 30]  # token-weighted mean length (100 + 900) / 40 = 25
    expected = 6 * multiplying + 12 * 2 * 32 * 25
    assert flops_per_token(model, lengths) == pytest.approx(expected)


def test_peak_by_device_name() -> None:
    assert peak_tflops("NVIDIA H200") == pytest.approx(989.4)
    assert peak_tflops("NVIDIA H100 PCIe") == pytest.approx(756.0)  # before plain "H100"
    assert peak_tflops("NVIDIA H200 NVL") == pytest.approx(835.0)
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == pytest.approx(312.0)
    assert peak_tflops("a GPU nobody listed") is None
