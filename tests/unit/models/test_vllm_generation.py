"""The vLLM backend's seam, on CPU. vLLM cannot exist here (it needs CUDA wheels and a GPU), so
a FAKE `vllm` module (tests/support/fake_vllm.py) is put in sys.modules: it records what the
backend builds (the engine's settings, SamplingParams, the LoRARequest, the prompts) and
answers with made-up completions shaped as vLLM's RequestOutput. The tokenizer is the real
tiny one. tests/gpu/test_vllm_generation_on_gpu.py runs the real engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import GenerationConfig
from ablate.models.chat import END_OF_TURN
from ablate.models.generation import (
    LoadedModel,
    encode_prompts,
    generate_samples,
    load_finetuned,
)
from ablate.models.vllm_generation import (
    ServedModel,
    generate_with_vllm,
    served_model,
    write_merged,
)
from tests.support.fake_vllm import FakeVllm, install

GEN = GenerationConfig(samples_per_prompt=3, max_new_tokens=12, batch_size=2)
SEED = 5


@pytest.fixture(scope="module")
def lm(tiny_cache: Path) -> LoadedModel:
    return load_finetuned(tiny_cache, "builtin:tiny", None, "float32", "cpu")


@pytest.fixture
def fake(lm: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> FakeVllm:
    return install(monkeypatch, lm.tokenizer)


def _prompts() -> list[dict[str, str]]:
    texts = ["Name a prime.", "Why is the sea salty, and why is a lake not?", "Hi"]
    return [{"id": f"q{i}", "prompt": t} for i, t in enumerate(texts)]


def _adapter(folder: Path, lm: LoadedModel, **config: Any) -> Path:
    """An adapter folder as training leaves it (the config and the tokenizer; the fake engine
    reads no weights)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", **config}))
    lm.tokenizer.save_pretrained(folder)
    return folder


# --- what the engine serves --------------------------------------------------------------------


def test_a_full_fine_tune_is_served_from_its_folder(tiny_cache: Path, tmp_path: Path) -> None:
    served = served_model(tiny_cache, "builtin:tiny", None, tmp_path / "merged")
    assert served == ServedModel(str(tiny_cache), None, str(tiny_cache))


@pytest.mark.parametrize(
    ("config", "slot"),
    [({"r": 4}, 8), ({"r": 16}, 16), ({"r": 16, "rank_pattern": {"q_proj": 40}}, 64)],
)
def test_a_lora_adapter_rides_on_the_base_with_its_rank_rounded_up(
    lm: LoadedModel, tiny_cache: Path, tmp_path: Path, config: dict[str, Any], slot: int
) -> None:
    adapter = _adapter(tmp_path / "model", lm, **config)
    served = served_model(adapter, "builtin:tiny", "main", tmp_path / "merged")
    assert served.model == str(tiny_cache) and served.revision == "main"
    assert served.adapter == served.tokenizer == str(adapter)
    assert served.max_lora_rank == slot and not served.merged


@pytest.mark.parametrize(
    "config",
    [
        {"r": 16, "trainable_token_indices": [1027, 1028, 1029]},  # chat markers added
        {"r": 16, "trainable_token_indices": {"model.embed_tokens": [1027], "lm_head": [1027]}},
        {"r": 16, "modules_to_save": ["lm_head"]},
        {"r": 1024},  # above vLLM's largest max_lora_rank
    ],
)
def test_an_adapter_vllm_cannot_serve_as_lora_is_merged(
    lm: LoadedModel, tmp_path: Path, config: dict[str, Any]
) -> None:
    served = served_model(
        _adapter(tmp_path / "model", lm, **config), "builtin:tiny", None, tmp_path / "m"
    )
    assert served == ServedModel(str(tmp_path / "m"), None, str(tmp_path / "m"), merged=True)


def test_write_merged_saves_a_loadable_model(lm: LoadedModel, tmp_path: Path) -> None:
    write_merged(lm, tmp_path / "merged")
    again = load_finetuned(tmp_path / "merged", "unused", None, "float32", "cpu")
    assert len(again.tokenizer) == len(lm.tokenizer)
    assert not (tmp_path / "merged" / "adapter_config.json").exists()


# --- sampling ------------------------------------------------------------------------------------


def test_sampling_params_carry_lima_decoding_and_a_seed_per_prompt(
    fake: FakeVllm, lm: LoadedModel, tiny_cache: Path
) -> None:
    prompts = _prompts()
    generate_with_vllm(
        ServedModel(str(tiny_cache), None, str(tiny_cache)),
        lm.tokenizer,
        prompts,
        GEN,
        SEED,
        "bfloat16",
    )
    (engine,) = fake.engines
    assert engine == {
        "model": str(tiny_cache),
        "tokenizer": str(tiny_cache),
        "revision": None,
        "dtype": "bfloat16",
        "seed": SEED,
    }
    ((inputs, params, lora),) = fake.generate_calls
    assert lora is None
    # the prompts as the hf backend encodes them, in the prompts' order
    ids = encode_prompts(lm.tokenizer, [p["prompt"] for p in prompts])
    assert inputs == [{"prompt_token_ids": x} for x in ids]
    eot = lm.tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert [p.kwargs for p in params] == [
        {
            "n": GEN.samples_per_prompt,
            "temperature": GEN.temperature,
            "top_p": GEN.top_p,
            "repetition_penalty": GEN.repetition_penalty,
            "max_tokens": GEN.max_new_tokens,
            "seed": SEED * 100_003 + i,
            "stop_token_ids": [eot, lm.tokenizer.eos_token_id],
        }
        for i in range(len(prompts))
    ]
    assert fake.cleanups == 1  # the engine's memory is handed back


def test_a_lora_adapter_goes_as_a_lora_request(
    fake: FakeVllm, lm: LoadedModel, tiny_cache: Path, tmp_path: Path
) -> None:
    adapter = _adapter(tmp_path / "model", lm, r=8)
    served = served_model(adapter, "builtin:tiny", None, tmp_path / "merged")
    generate_with_vllm(served, lm.tokenizer, _prompts(), GEN, SEED, "auto")
    (engine,) = fake.engines
    assert engine["model"] == str(tiny_cache) and engine["tokenizer"] == str(adapter)
    assert engine["enable_lora"] is True and engine["max_lora_rank"] == 8
    assert engine["max_loras"] == 1
    ((_, _, lora),) = fake.generate_calls
    assert lora.args == ("finetuned", 1, str(adapter))


def test_outputs_become_samples_in_prompt_order_with_the_hf_fields(
    fake: FakeVllm, lm: LoadedModel, tiny_cache: Path
) -> None:
    prompts = _prompts()
    served = ServedModel(str(tiny_cache), None, str(tiny_cache))
    samples = generate_with_vllm(served, lm.tokenizer, prompts, GEN, SEED, "auto")
    k = GEN.samples_per_prompt
    assert [(s["prompt_id"], s["sample"]) for s in samples] == [
        (p["id"], j) for p in prompts for j in range(k)
    ]
    reference = generate_samples(
        lm, prompts, GenerationConfig(samples_per_prompt=1, max_new_tokens=2), 0
    )[0]
    for s in samples:
        assert set(s) == set(reference)
        assert {key: type(v) for key, v in s.items()} == {
            key: type(v) for key, v in reference.items()
        }
    for i, p in enumerate(prompts):
        seed = SEED * 100_003 + i
        row = samples[i * k : (i + 1) * k]
        assert all(s["prompt"] == p["prompt"] for s in row)
        assert [s["response"] for s in row] == [f"reply {seed} {j}" for j in range(k)]
        length = len(lm.tokenizer(f"reply {seed} 0", add_special_tokens=False)["input_ids"])
        assert [s["n_tokens"] for s in row] == [length] * k  # the stop token is not counted
        assert [s["stopped"] for s in row] == [True, False, True]


def test_the_meter_counts_vllms_new_tokens(
    fake: FakeVllm, lm: LoadedModel, tiny_cache: Path
) -> None:
    from ablate.models.generation import DecodeMeter

    meter = DecodeMeter()
    served = ServedModel(str(tiny_cache), None, str(tiny_cache))
    samples = generate_with_vllm(served, lm.tokenizer, _prompts(), GEN, SEED, "auto", meter)
    stats = meter.stats()
    assert stats["generation_new_tokens"] == sum(s["n_tokens"] + s["stopped"] for s in samples)
    assert stats["generation_useful_slot_fraction"] is None  # no padded rows to count
    assert stats["generation_prompt_real_fraction"] is None


def test_the_module_imports_and_plans_without_vllm(tiny_cache: Path, tmp_path: Path) -> None:
    """In a fresh interpreter where `import vllm` fails, as on a machine without it."""
    import subprocess

    script = (
        "import sys; sys.modules['vllm'] = None\n"
        "from pathlib import Path\n"
        "from ablate.config.schema import GenerationConfig\n"
        "from ablate.models import vllm_generation as v\n"
        f"print(v.served_model(Path({str(tiny_cache)!r}), 'x', None, Path('.')).model)\n"
        "try:\n"
        "    v.sampling_params(GenerationConfig(), 0, [1])\n"
        "except ImportError:\n"
        "    print('ImportError')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tiny_cache), "ImportError"]
