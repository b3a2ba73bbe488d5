"""Model names to loaded models, with the real from_pretrained code for every kind of name.

A name is a hub id, a local folder, or builtin:<name>. `check_available` runs in the driver
before any trial starts, so an unreachable hub stops the sweep at once (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.errors import UserError
from ablate.models.tiny import BUILTIN_PREFIX, builtin_path


def local_path(name_or_path: str) -> str:
    """What from_pretrained gets: builtin names become their built folder."""
    if name_or_path.startswith(BUILTIN_PREFIX):
        return str(builtin_path(name_or_path.removeprefix(BUILTIN_PREFIX)))
    return name_or_path


def _hub_problem(repo_id: str, revision: str | None) -> str | None:
    import huggingface_hub as hub

    try:
        if hub.try_to_load_from_cache(repo_id, "config.json", revision=revision) is not None:
            return None  # cached: usable offline
        hub.HfApi().model_info(repo_id, revision=revision, timeout=10)
    except hub.errors.HFValidationError:
        return "is neither a hub id (org/name) nor a local folder (write ./path for a folder)"
    except hub.errors.GatedRepoError:  # before its base class, RepositoryNotFoundError
        return "is gated on the hub: accept its licence and log in (huggingface-cli login)"
    except (hub.errors.RepositoryNotFoundError, hub.errors.RevisionNotFoundError):
        return "was not found on the Hugging Face hub (check the spelling and the revision)"
    except Exception as exc:  # connection errors come from several HTTP stacks
        return (
            f"is not in the local cache and the hub cannot be reached ({type(exc).__name__}). "
            "Download it where the hub is reachable (huggingface-cli download "
            f"{repo_id}), copy the cache, or point the setting at a local folder"
        )
    return None


def check_available(name_or_path: str, revision: str | None, setting: str) -> None:
    """Raise a UserError naming the model and the setting when it cannot be loaded."""
    if name_or_path.startswith(BUILTIN_PREFIX):
        try:
            builtin_path(name_or_path.removeprefix(BUILTIN_PREFIX))
        except ValueError as exc:
            raise UserError(f"{setting}: {exc}") from None
        return
    path = Path(name_or_path)
    if path.is_absolute() or name_or_path.startswith(("./", "../")):
        if not (path / "config.json").is_file():
            raise UserError(f"{setting}: '{name_or_path}' is not a model folder (no config.json)")
        return
    problem = _hub_problem(name_or_path, revision)
    if problem:
        raise UserError(f"{setting}: model '{name_or_path}' {problem}.")


def torch_dtype(name: str) -> Any:
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


def load_tokenizer(name_or_path: str, revision: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(local_path(name_or_path), revision=revision)
    if tokenizer.pad_token is None:  # many base models ship none; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(
    name_or_path: str,
    revision: str | None,
    dtype: str,
    device: str,
    attn_implementation: str | None = None,
) -> Any:
    """attn_implementation: transformers' name of the attention kernel (None: its default)."""
    from transformers import AutoModelForCausalLM

    chosen = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model: Any = AutoModelForCausalLM.from_pretrained(
        local_path(name_or_path), revision=revision, dtype=torch_dtype(dtype), **chosen
    )
    return model.to(device)


def free_accelerator_memory() -> None:
    """Hand freed tensors' memory back (gc, then CUDA's cache), so the next user of the GPU
    (vLLM, the judge, the worker's next trial) can take it."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
