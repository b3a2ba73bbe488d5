"""Hugging Face datasets as a pool source.

pool.dataset is a folder written by Dataset.save_to_disk / DatasetDict.save_to_disk (read
with datasets.load_from_disk), a local data file (.jsonl/.json/.csv/.parquet), or anything
datasets.load_dataset understands: a hub name ("GAIR/lima") or a local folder of data files.
pool.split picks the split; pool.prompt_field / pool.response_field pick the columns. A prompt
column holding lists (chat-style: strings, or {"role", "content"} / {"from", "value"} dicts)
is read as alternating turns, as in LIMA's own format.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources.lima import turns_record
from ablate.data.sources.spec import PoolSource
from ablate.errors import UserError

# A local file loads through the packaged builder of its format.
FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
SETTINGS = "pools.<name>.dataset / pools.<name>.split"


def _saved_to_disk(folder: Path) -> bool:
    # The marker files save_to_disk writes (DatasetDict, respectively Dataset).
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def _from_disk(folder: Path, split: str) -> tuple[Any, str | None]:
    """(Dataset, the split it is) from a save_to_disk folder; a lone Dataset has no split."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
    except (OSError, ValueError) as exc:
        raise UserError(f"hf dataset '{folder}': cannot load the saved dataset ({exc}).") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise UserError(
                f"hf dataset '{folder}': no split '{split}' (splits: {', '.join(loaded)}). "
                "Set pools.<name>.split to one of them."
            )
        return loaded[split], split
    return loaded, None


def _load_error(name: str, split: str, exc: Exception) -> UserError:
    """One clear message for everything load_dataset raises on bad names, splits or network."""
    import datasets

    if isinstance(exc, ConnectionError):  # includes offline mode (OfflineModeIsEnabled)
        why = (
            "it is not a local folder and the Hugging Face Hub cannot be reached "
            "(offline, or HF_HUB_OFFLINE=1, with no cached copy)"
        )
    elif isinstance(exc, datasets.exceptions.DatasetNotFoundError):
        why = "no such dataset on the Hub (gated or private ones need `hf auth login`)"
    elif isinstance(exc, ValueError) and "Unknown split" in str(exc):
        return UserError(
            f"hf dataset '{name}': no split '{split}' ({exc}). Set pools.<name>.split."
        )
    else:
        why = f"{type(exc).__name__}: {exc}"
    return UserError(f"hf dataset '{name}' (split '{split}'): {why}. Check {SETTINGS}.")


def _from_loader(name: str, split: str) -> Any:
    import datasets

    local = Path(name)
    try:
        if local.is_file():
            builder = FILE_BUILDERS.get(local.suffix.lower())
            if builder is None:
                raise UserError(
                    f"hf dataset '{name}': a data file must end in "
                    f"{', '.join(FILE_BUILDERS)} (or save the data with save_to_disk)."
                )
            return datasets.load_dataset(builder, data_files={split: str(local)}, split=split)
        return datasets.load_dataset(name, split=split)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        raise _load_error(name, split, exc) from None


def load_split(pool: PoolConfig) -> tuple[Any, str | None]:
    """(Dataset, split name or None) for the pool, with the loader that fits its `dataset`."""
    name = pool.dataset
    if not name:
        raise UserError(
            "an hf pool needs a dataset: set pools.<name>.dataset to a hub name or a folder "
            "saved with save_to_disk."
        )
    local = Path(name)
    if local.is_dir() and _saved_to_disk(local):
        return _from_disk(local, pool.split)
    if (local.is_absolute() or name.startswith(".")) and not local.exists():
        # Clearly a path, not a hub name: asking the Hub would only hide the typo.
        raise UserError(f"hf dataset '{name}': no such file or folder (set pools.<name>.dataset).")
    return _from_loader(name, pool.split), pool.split


def _column_error(
    name: str, split: str | None, column: str, setting: str, have: list[str]
) -> UserError:
    return UserError(
        f"hf dataset '{name}' (split '{split}'): no column '{column}' "
        f"(columns: {', '.join(have)}). Set pools.<name>.{setting} to one of them."
    )


def _check_columns(data: Any, pool: PoolConfig, split: str | None, train: bool) -> bool:
    """Raise on a missing column; True when the prompt column holds chat-style turn lists."""
    import datasets

    have = list(data.column_names)
    if pool.prompt_field not in have:
        raise _column_error(str(pool.dataset), split, pool.prompt_field, "prompt_field", have)
    chat = not isinstance(data.features[pool.prompt_field], datasets.Value)
    # A chat column carries the replies itself; plain prompts need the response column to train.
    if train and not chat and pool.response_field not in have:
        raise _column_error(str(pool.dataset), split, pool.response_field, "response_field", have)
    return chat


def chat_turns(value: Any, stats: BuildStats) -> list[str] | None:
    """Turn texts from a chat-style value, or None when its shape is not one we know."""
    if not isinstance(value, list):
        return None
    turns: list[str] = []
    for item in value:
        if isinstance(item, dict):
            if item.get("role", item.get("from")) == "system":
                # LIMA's format has no system turn; count them so the manifest shows it.
                stats.notes["system_turns_dropped"] = stats.notes.get("system_turns_dropped", 0) + 1
                continue
            item = item.get("content", item.get("value"))
        if not isinstance(item, str):
            return None
        turns.append(item)
    return turns


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _row_turns(
    row: dict[str, Any], pool: PoolConfig, chat: bool, where: str, stats: BuildStats
) -> list[str]:
    if not chat:
        prompt, response = row[pool.prompt_field], row.get(pool.response_field)
        # A null response is no response: turns_record counts it (train) or omits it (eval).
        return [_text(prompt)] if response is None else [_text(prompt), _text(response)]
    turns_or_none = chat_turns(row[pool.prompt_field], stats)
    if turns_or_none is None:
        raise UserError(
            f"{where}: column '{pool.prompt_field}' must hold text, a list of strings, or a "
            "list of {role, content} messages; set pools.<name>.prompt_field."
        )
    return turns_or_none


def build_hf(pool: PoolConfig, split: str, stats: BuildStats) -> Iterator[Record]:
    """Records from one split of a Hugging Face dataset, in row order."""
    data, split_name = load_split(pool)
    chat = _check_columns(data, pool, split_name, train=split == "train")
    label = Path(str(pool.dataset)).name or str(pool.dataset)
    id_prefix = f"{label}-{split_name}" if split_name else label  # ids must differ across splits
    group_column = "source" if "source" in data.column_names else None
    # Only the columns used: rows are materialised as dicts, wide datasets would pay for all.
    used = [pool.prompt_field, pool.response_field, "id", "source"]
    data = data.select_columns([c for c in dict.fromkeys(used) if c in data.column_names])
    stats.notes["hf"] = {"dataset": pool.dataset, "split": split_name, "rows": len(data)}
    for index, row in enumerate(data):
        stats.seen += 1
        where = f"hf dataset '{pool.dataset}' (split '{split_name}'), row {index}"
        turns = _row_turns(row, pool, chat, where, stats)
        record_id = str(row["id"]) if row.get("id") is not None else f"{id_prefix}-{index}"
        record = turns_record(record_id, turns, split, stats)
        if record is None:
            continue
        group = _text(row[group_column]) if group_column else ""
        if group:
            record["source"] = group
        stats.kept_by_group[group or split_name or label] += 1
        yield record


def _hf_problems(path: str, pool: PoolConfig) -> list[str]:
    if pool.dataset:
        return []
    return [f"{path}.dataset: an hf pool needs a dataset name or saved folder"]


SOURCE = PoolSource(
    "hf",
    lambda pool, split, stats, work_dir: build_hf(pool, split, stats),
    settings=("dataset", "split", "prompt_field", "response_field"),
    checks=_hf_problems,
)
