"""Checkpoint files in the upstream FocalCodec format: ``config.json`` + ``model.safetensors``
(docs/architecture.md, Checkpoint contract).

Sources ``FocalCodec.from_pretrained`` accepts (checked in this order):

1. a local folder holding ``config.json`` and ``model.safetensors`` (or ``model.pt``; a folder written by
   upstream's ``to_pretrained(folder + "/config")`` holds ``config.safetensors`` instead, also accepted);
2. a local config path, with or without ``.json``: weights are ``<stem>.safetensors`` / ``<stem>.pt`` beside it
   (upstream's rule), else ``model.safetensors`` / ``model.pt`` in the same folder;
3. a Hugging Face repo id ``owner/name`` (files ``config.json`` + ``model.safetensors``, else ``model.pt``) or
   ``owner/name/sub_config.json`` (weights ``sub_config.safetensors`` / ``.pt``), downloaded through
   ``huggingface_hub.hf_hub_download`` into its cache (keyword arguments such as ``revision``, ``cache_dir``,
   ``local_files_only`` pass through).

``.pt`` weights are only ever read with ``torch.load(weights_only=True)``. Legacy v0.0.1 checkpoints (separate
q/k/v projections, ``Sequential`` focal layers, an extra output norm and quantizer mask) are remapped by name.
Wrong or missing keys raise ``CheckpointError`` listing them.

``save_pretrained(model, folder)`` writes ``config.json`` and ``model.safetensors`` atomically, plus
``config.safetensors``, a relative symlink to ``model.safetensors``: with it the upstream package loads the
folder as ``FocalCodec.from_pretrained(folder + "/config")``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from torch import nn

from fcodec.models.configs import PUBLISHED_CONFIGS
from fcodec.models.weights import CheckpointError, load_state_dict_file, load_weights, remap_legacy_state_dict
from fcodec.utils.io import atomic_path, atomic_write_json

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "DEFAULT_CONFIGS",
    "CheckpointError",
    "apply_overrides",
    "to_jsonable",
    "load_state_dict_file",
    "load_weights",
    "read_config",
    "remap_legacy_state_dict",
    "resolve",
    "save_pretrained",
    "write_config",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LEGACY_WEIGHTS_NAME = "model.pt"
UPSTREAM_WEIGHTS_LINK = "config.safetensors"  # what upstream looks for beside config.json
CONFIG_KEYS = (
    "encoder_name",
    "encoder_config",
    "compressor_name",
    "compressor_config",
    "quantizer_name",
    "quantizer_config",
    "decompressor_name",
    "decompressor_config",
    "decoder_name",
    "decoder_config",
)
DEFAULT_CONFIGS = list(PUBLISHED_CONFIGS)  # the published Hugging Face repo ids (upstream's name for the list)
_REPO_ID = re.compile(r"[\w\-]+/[\w\-.]+")


# ------------------------------------------------------------------------------------------------------------
# resolving a source to files
# ------------------------------------------------------------------------------------------------------------
def _stem_weights(config_json: Path) -> List[Path]:
    stem = config_json.with_suffix("")
    return [stem.with_suffix(".safetensors"), stem.with_suffix(".pt")]


def _local_weight_candidates(config_json: Path) -> List[Path]:
    folder = config_json.parent
    candidates = _stem_weights(config_json) + [folder / WEIGHTS_NAME, folder / LEGACY_WEIGHTS_NAME]
    if config_json.name == CONFIG_NAME:  # a folder in the Hugging Face layout: model.* first
        candidates = [folder / WEIGHTS_NAME, folder / LEGACY_WEIGHTS_NAME] + _stem_weights(config_json)
    return list(dict.fromkeys(candidates))


def _offline_message(repo_id: str, filename: str, reason: BaseException) -> str:
    return (
        f"Could not get '{filename}' of the Hugging Face repo '{repo_id}': no connection to the Hub and no cached "
        f"copy ({type(reason).__name__}: {reason}). (There is no local folder or config file '{repo_id}' either.)\n"
        f"To use it without a connection, download 'config.json' and 'model.safetensors' from "
        f"https://huggingface.co/{repo_id} on a machine that has one (e.g. `python -m fcodec.bin.fetch_codec "
        f"{repo_id} --out DIR` there), copy both files into one folder here, and pass that folder instead of the "
        f"repo id (e.g. FocalCodec.from_pretrained('/path/to/folder')). Alternatively point HF_HOME at a Hugging "
        f"Face cache that already holds the repo. Published configs: {DEFAULT_CONFIGS}"
    )


def _hub_download(repo_id: str, filename: str, **hub_kwargs: Any) -> Path:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise CheckpointError("`pip install huggingface_hub` to load models from the Hugging Face Hub") from exc
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, **hub_kwargs))
    except LocalEntryNotFoundError as exc:
        raise CheckpointError(_offline_message(repo_id, filename, exc)) from exc


def _is_missing_remote_file(exc: BaseException) -> bool:
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    return isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError)


def resolve(src: os.PathLike | str, pretrained: bool = True, **hub_kwargs: Any) -> Tuple[Path, Optional[Path]]:
    """Turn a source (see module docstring) into local ``(config_json, weights)`` paths, downloading if needed.

    ``weights`` is None when ``pretrained`` is False.

    Parameters
    ----------
    src : str or os.PathLike
        Local folder, local config path (``.json`` optional), ``owner/name`` repo id or
        ``owner/name/sub_config.json``.
    pretrained : bool, default True
        Also find (or download) the weights.
    **hub_kwargs
        Passed to ``huggingface_hub.hf_hub_download`` (``revision``, ``cache_dir``, ``local_files_only``, ...).

    Returns
    -------
    config_json : Path
    weights : Path or None

    Raises
    ------
    CheckpointError
        A folder without ``config.json``, no weights beside a local config, a source that is neither a local
        file nor a repo id, or a failed download (the offline message says how to copy the files over).
    """
    src_str = os.fspath(src)
    path = Path(src_str).expanduser()
    if path.is_dir():
        config_json = path / CONFIG_NAME
        if not config_json.is_file():
            raise CheckpointError(f"{path} is a folder but has no {CONFIG_NAME}")
        return config_json, _find_local_weights(config_json) if pretrained else None
    config_json = path if src_str.endswith(".json") else Path(src_str + ".json").expanduser()
    if config_json.is_file():
        return config_json, _find_local_weights(config_json) if pretrained else None

    # remote: 'owner/name' is a repo id; 'owner/name/sub.json' names a config inside a repo
    remote_json = src_str if src_str.endswith(".json") else src_str + ".json"
    if _REPO_ID.fullmatch(src_str):
        repo_id, filename, weights_stem = src_str, CONFIG_NAME, "model"
    elif _REPO_ID.fullmatch(os.path.dirname(remote_json)):
        repo_id, filename = os.path.dirname(remote_json), os.path.basename(remote_json)
        weights_stem = os.path.splitext(filename)[0]
    else:
        raise CheckpointError(
            f"No codec at '{src_str}': expected a folder with {CONFIG_NAME} + {WEIGHTS_NAME}, a config .json "
            f"file, or a Hugging Face repo id such as 'lucadellalib/focalcodec_50hz_2k_causal'"
        )
    try:
        config_path = _hub_download(repo_id, filename, **hub_kwargs)
        if not pretrained:
            return config_path, None
        try:
            weights = _hub_download(repo_id, f"{weights_stem}.safetensors", **hub_kwargs)
        except Exception as exc:  # only a file missing from the repo falls back to the .pt weights
            if not _is_missing_remote_file(exc):
                raise
            weights = _hub_download(repo_id, f"{weights_stem}.pt", **hub_kwargs)
        return config_path, weights
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"Could not load '{src_str}' from the Hugging Face Hub (repo '{repo_id}', file '{filename}'; there is "
            f"no local file or folder of that name either): {type(exc).__name__}: {exc}. "
            f"Published configs: {DEFAULT_CONFIGS}"
        ) from exc


def _find_local_weights(config_json: Path) -> Path:
    candidates = _local_weight_candidates(config_json)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"No weights for {config_json}: looked for " + ", ".join(str(c) for c in candidates))


# ------------------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------------------
def read_config(path: os.PathLike | str) -> Dict[str, Any]:
    """Read a ``config.json``.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file.

    Returns
    -------
    dict
        Its object (a subset of the ten ``FocalCodec`` keywords).

    Raises
    ------
    CheckpointError
        The file cannot be read or parsed, is not a JSON object, or has keys outside ``CONFIG_KEYS``.
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Could not read codec config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"Codec config {path} must hold a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise CheckpointError(f"Codec config {path} has unknown keys {unknown}; allowed: {list(CONFIG_KEYS)}")
    return config


def apply_overrides(config: Dict[str, Any], overrides: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Apply ``{"encoder_config.max_cached_steps": 0, ...}`` (dot paths; missing dicts are created).

    Parameters
    ----------
    config : dict
        A config (not modified).
    overrides : Mapping[str, Any], optional
        Dot path -> value; None or empty changes nothing.

    Returns
    -------
    dict
        A deep copy of ``config`` with the values set.
    """
    config = copy.deepcopy(config)
    for dotted, value in (overrides or {}).items():
        keys = dotted.split(".")
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return config


# ------------------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------------------
def to_jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def write_config(config: Mapping[str, Any], path: os.PathLike | str) -> Path:
    return atomic_write_json(path, to_jsonable(config), indent=2)


def _write_weights(model: nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    # safetensors wants contiguous, unshared CPU tensors
    state_dict = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state_dict, str(tmp), metadata={"format": "pt"})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # save_file recreates the file with private permissions
    return path


def _link_for_upstream(folder: Path) -> None:
    """``config.safetensors`` -> ``model.safetensors`` so that upstream's stem rule finds the weights."""
    link = folder / UPSTREAM_WEIGHTS_LINK
    tmp = folder / f".{UPSTREAM_WEIGHTS_LINK}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    try:
        tmp.symlink_to(WEIGHTS_NAME)
    except OSError:  # no symlinks (some file systems): fall back to a hard link, then to nothing
        try:
            os.link(folder / WEIGHTS_NAME, tmp)
        except OSError:
            logger.warning(
                "could not link %s to %s; upstream must load %s/model.json instead", link, WEIGHTS_NAME, folder
            )
            return
    os.replace(tmp, link)


def save_pretrained(model: nn.Module, folder: os.PathLike | str, config: Mapping[str, Any]) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ the upstream link) into ``folder``; return the folder.

    Parameters
    ----------
    model : nn.Module
        Its state dict is written (CPU copies, contiguous), each file atomically.
    folder : str or os.PathLike
        Created with its parents if missing.
    config : Mapping[str, Any]
        The ``config.json`` content (``FocalCodec.config``).

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_weights(model, folder / WEIGHTS_NAME)
    write_config(config, folder / CONFIG_NAME)
    _link_for_upstream(folder)
    return folder


def save_upstream_style(
    model: nn.Module, config_path: os.PathLike | str, config: Mapping[str, Any], pretrained: bool
) -> Path:
    """Upstream's ``to_config``: ``X.json`` (+ ``X.safetensors`` when ``pretrained``) for a path ``X[.json]``.

    Parameters
    ----------
    model : nn.Module
        Its state dict is written when ``pretrained``.
    config_path : str or os.PathLike
        ``X`` or ``X.json``; missing folders are created. Each file is written atomically.
    config : Mapping[str, Any]
        The ``config.json`` content.
    pretrained : bool
        Also write ``X.safetensors``.

    Returns
    -------
    Path
        ``X.json``.
    """
    config_path = os.fspath(config_path)
    config_json = Path(config_path if config_path.endswith(".json") else config_path + ".json")
    write_config(config, config_json)
    if pretrained:
        _write_weights(model, config_json.with_suffix(".safetensors"))
    return config_json
