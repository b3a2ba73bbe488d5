"""LIMA's residual dropout (section 3): dropout on each residual branch, the attention's and the
MLP's output before it is added back, at a rate rising linearly from the bottom layer to the
top one (0.0 to 0.3 for 65B, 0.2 for the smaller models).

transformers' decoder layers have no such dropout, so it is a forward hook on each layer's
attention and MLP: active only while the model is in training mode, never saved with the
weights. Under LoRA the hooks sit on the frozen base modules, so the dropout acts on the sum
of the base output and the adapter's update, as it would on a full fine-tune."""

from __future__ import annotations

from typing import Any

BRANCHES = ("self_attn", "mlp")  # the residual branches of a Llama/Qwen/Mistral-style layer


def layer_rates(n_layers: int, bottom: float, top: float) -> list[float]:
    """The rate of each layer, bottom (first) to top (last), linear in between."""
    if n_layers == 1:
        return [top]
    return [bottom + (top - bottom) * i / (n_layers - 1) for i in range(n_layers)]


def decoder_layers(model: Any) -> list[Any]:
    """The model's decoder layers, bottom first: the longest list of modules that carry both
    residual branches (works through peft's wrappers, which keep the module tree)."""
    import torch

    best: list[Any] = []
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList):
            layers = [m for m in module if all(hasattr(m, b) for b in BRANCHES)]
            if len(layers) == len(module) and len(layers) > len(best):
                best = layers
    return best


def _hook(rate: float) -> Any:
    import torch.nn.functional as F

    def drop(module: Any, args: Any, output: Any) -> Any:
        if not module.training or rate == 0.0:
            return output
        if isinstance(output, tuple):  # attention returns (output, weights, ...)
            return (F.dropout(output[0], rate, training=True), *output[1:])
        return F.dropout(output, rate, training=True)

    return drop


def add_residual_dropout(model: Any, bottom: float, top: float) -> list[float]:
    """Hook the dropout onto every layer's branches; the rate per layer. A config error when
    the model's layers cannot be found (an architecture without attention/MLP children)."""
    layers = decoder_layers(model)
    if not layers:
        from ablate.errors import UserError

        raise UserError(
            "training.residual_dropout: this model's decoder layers have no "
            f"{' and '.join(BRANCHES)} modules to put the dropout on; set it to null."
        )
    rates = layer_rates(len(layers), bottom, top)
    for layer, rate in zip(layers, rates, strict=True):
        for branch in BRANCHES:
            getattr(layer, branch).register_forward_hook(_hook(rate))
    return rates
