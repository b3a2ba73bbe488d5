"""LIMA's residual dropout: the rate per layer, measured on the tiny model's real forward pass
(inference only), and its config (checked at load, keyed only when set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.errors import UserError
from ablate.models.residual_dropout import add_residual_dropout, decoder_layers, layer_rates
from tests.unit.config.test_load import EXPERIMENT, load_config, write_pair


def test_rates_rise_linearly_from_bottom_to_top() -> None:
    assert layer_rates(4, 0.0, 0.3) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert layer_rates(3, 0.1, 0.1) == pytest.approx([0.1, 0.1, 0.1])
    assert layer_rates(1, 0.0, 0.2) == [0.2]


def _tiny(tiny_cache: Path) -> Any:
    from ablate.models.load import load_causal_lm

    return load_causal_lm("builtin:tiny", None, "float32", "cpu")


def _branch_outputs(model: Any) -> dict[tuple[int, str], Any]:
    """What each layer's branches hand back to the residual stream in one forward pass (a hook
    registered after the dropout's sees its output)."""
    import torch

    seen: dict[tuple[int, str], Any] = {}
    for i, layer in enumerate(decoder_layers(model)):
        for branch in ("self_attn", "mlp"):

            def keep(module: Any, args: Any, out: Any, key: tuple[int, str] = (i, branch)) -> None:
                seen[key] = (out[0] if isinstance(out, tuple) else out).detach().clone()

            getattr(layer, branch).register_forward_hook(keep)
    torch.manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size - 8, (8, 256))
    model(input_ids=ids)
    return seen


def test_each_layer_drops_its_own_share_in_training_only(tiny_cache: Path) -> None:
    model = _tiny(tiny_cache)
    n_layers = len(decoder_layers(model))
    assert n_layers == model.config.num_hidden_layers >= 2
    rates = add_residual_dropout(model, 0.0, 0.5)
    assert rates == pytest.approx(layer_rates(n_layers, 0.0, 0.5))

    model.train()
    outputs = _branch_outputs(model)
    for (layer, branch), out in outputs.items():
        zeros = float((out == 0).float().mean())
        # 8 x 256 x hidden elements: the share of zeros is the rate within a few thousandths
        assert zeros == pytest.approx(rates[layer], abs=0.01), (layer, branch, zeros)

    model.eval()
    assert all(float((out == 0).float().mean()) < 0.001 for out in _branch_outputs(model).values())


def test_training_mode_off_means_the_model_is_unchanged(tiny_cache: Path) -> None:
    import torch

    plain, hooked = _tiny(tiny_cache), _tiny(tiny_cache)
    add_residual_dropout(hooked, 0.1, 0.3)
    ids = torch.arange(32).unsqueeze(0)
    with torch.no_grad():
        plain.eval(), hooked.eval()
        assert torch.equal(plain(input_ids=ids).logits, hooked(input_ids=ids).logits)


def test_a_model_without_attention_and_mlp_layers_is_a_config_error() -> None:
    import torch

    with pytest.raises(UserError, match=r"training\.residual_dropout"):
        add_residual_dropout(torch.nn.Sequential(torch.nn.Linear(4, 4)), 0.0, 0.3)


def _config(tmp_path: Path, training: dict[str, Any] | None) -> Any:
    experiment = dict(EXPERIMENT) | ({"training": training} if training is not None else {})
    return load_config(write_pair(tmp_path, experiment))


def test_config_takes_lima_rates_and_refuses_a_rate_of_one(tmp_path: Path) -> None:
    config = _config(tmp_path / "ok", {"residual_dropout": {"bottom": 0.0, "top": 0.2}})
    assert (config.training.residual_dropout.bottom, config.training.residual_dropout.top) == (
        0.0,
        0.2,
    )
    assert _config(tmp_path / "off", None).training.residual_dropout is None
    from ablate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"training\.residual_dropout\.top"):
        _config(tmp_path / "bad", {"residual_dropout": {"top": 1.0}})


def test_off_keeps_the_trial_ids_of_sweeps_made_before_it_existed() -> None:
    from ablate.config.schema import ResidualDropout
    from tests.unit.test_plan import base_config, changed, plan

    def train_keys(config: Any) -> list[str]:
        return [t.stage_keys["train"] for t in plan(config)]

    off = base_config()
    assert off.training.residual_dropout is None
    with_field = train_keys(off)
    on = train_keys(changed(off, "training.residual_dropout", ResidualDropout(0.0, 0.3)))
    assert all(a != b for a, b in zip(with_field, on, strict=True)), "it changes the training"
    # null is left out of the key: the keys are those computed before the setting existed
    from dataclasses import asdict

    from ablate.plan import _without

    assert "residual_dropout" not in _without(off.training)
    assert asdict(off.training).keys() - _without(off.training).keys() == {"residual_dropout"}
