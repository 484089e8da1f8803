"""Training configuration: typed dataclasses, YAML files, ``key.sub=value`` overrides, and the resolved record.

The YAML file(s) of a training run (``conf/train_50hz.yaml``, ``conf/train_25hz.yaml``, ...) fill a
:class:`TrainConfig`; command-line overrides such as ``optim.lr=1e-4`` or ``loss.asr.weight=30`` are applied on
top and converted to the type the field declares (so ``1e-4`` is a float even though YAML would read it as a
string). Unknown keys are errors that name the file (or the override) and list the keys that exist, because a
silently ignored typo in a training config costs a whole run; a key renamed since (:data:`RENAMED`) is read under
its old name too. The resolved config is written next to the outputs as ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import typing
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set, Tuple, Union

import yaml

from fcodec.train.config_schema import (  # the schema is read from here too
    AssetsConfig,
    ConfigError,
    DataConfig,
    GanConfig,
    LoopConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    default_losses,
)
from fcodec.utils.yaml_safe import safe_yaml

log = logging.getLogger(__name__)

__all__ = [
    "AssetsConfig",
    "ConfigError",
    "DataConfig",
    "GanConfig",
    "LoopConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "default_losses",
    "apply_overrides",
    "config_diff",
    "dump_config",
    "from_dict",
    "load_config",
    "parse_override",
    "renamed_keys",
    "to_dict",
]


# ---------------------------------------------------------------------------------------------------------------
# dict <-> dataclass


def to_dict(cfg: Any) -> Dict[str, Any]:
    """Plain nested dict (tuples become lists) suitable for YAML, JSON and ``torch.load(weights_only=True)``."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(cfg)


def from_dict(cls: type, data: Dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a nested dict, converting values to the declared field types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Union:  # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if tp is Any:
        return _numeric(value)
    if origin in (list, List, tuple, Tuple):
        if isinstance(value, str):
            value = safe_yaml(value)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin in (tuple, Tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_convert(args[0], v, where) for v in value)
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(_convert(a, v, where) for a, v in zip(args, value))
        return [_convert(args[0], v, where) if args else v for v in value]
    if origin in (dict, Dict):
        if isinstance(value, str):
            value = safe_yaml(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {k: _numeric(v) for k, v in value.items()}
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if tp is str:
            if value is None or isinstance(value, (dict, list)):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: cannot read {value!r} as {getattr(tp, '__name__', tp)}") from None
    return value


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)$")


def _numeric(value: Any) -> Any:
    """Inside free-form sections nothing declares a type: read ``5e-4`` as the number YAML 1.1 does not see."""
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: _numeric(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numeric(v) for v in value]
    return value


def _section_type(hint: Any) -> Any:
    """``Optional[Section]`` -> ``Section`` (an optional section such as ``gan`` takes overrides like any)."""
    if typing.get_origin(hint) is Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return hint


def _merge(base: Dict[str, Any], update: Dict[str, Any], cls: type) -> Dict[str, Any]:
    """``update`` over ``base`` following the schema: sections merge key by key, any other value replaces."""
    out = dict(base)
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    for key, value in update.items():
        hint = _section_type(hints.get(key))
        if (
            hint is not None
            and dataclasses.is_dataclass(hint)
            and isinstance(value, dict)
            and isinstance(out.get(key), dict)
        ):
            out[key] = _merge(out[key], value, hint)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------------------------
# renamed keys

# (section, old name) -> new name. A file, an override or a saved record that still says the old name is read as
# the new one: configs written before the rename keep working, and their bytes stay as they are (the recipe's
# stages 4-6 fingerprint them, so editing them would make a finished training run look changed).
RENAMED = {("train", "valid_interval"): "dev_interval"}


def renamed_keys(data: Dict[str, Any], where: str, quiet: bool = False) -> Dict[str, Any]:
    """``data`` (a config's top-level mapping) with every old key name of :data:`RENAMED` replaced by the new one
    (one log line each unless ``quiet``); a section that gives both names is a :class:`ConfigError`."""
    out = dict(data)
    for (section, old), new in RENAMED.items():
        values = out.get(section)
        if not isinstance(values, dict) or old not in values:
            continue
        if new in values:
            raise ConfigError(
                f"{where}: {section}.{old} and {section}.{new} both given; {old} is the old name of "
                f"{new}: keep {section}.{new} only"
            )
        if not quiet:
            log.info("%s: %s.%s is the old name of %s.%s; read as such", where, section, old, section, new)
        out[section] = {(new if key == old else key): value for key, value in values.items()}
    return out


def renamed_overrides(overrides: Sequence[str]) -> List[str]:
    """``overrides`` with the old key names of :data:`RENAMED` replaced (one log line each); a key given under
    both its old and its new name is a :class:`ConfigError`."""
    out: List[str] = []
    spelled: Dict[Tuple[str, ...], Set[str]] = {}  # new key -> the names it was given under
    for text in overrides:
        path = tuple(parse_override(text)[0])
        key = (path[0], RENAMED[path]) if path in RENAMED else path
        if key != path:
            log.info("override %r: %s is the old name of %s; read as such", text, ".".join(path), ".".join(key))
            text = ".".join(key) + "=" + text.split("=", 1)[1]
        spelled.setdefault(key, set()).add(".".join(path))
        out.append(text)
    for key, names in spelled.items():
        if len(names) > 1:
            raise ConfigError(
                f"overrides {' and '.join(sorted(names))} are one key (the old and the new name of "
                f"{'.'.join(key)}): give one"
            )
    return out


# ---------------------------------------------------------------------------------------------------------------
# files and overrides


def parse_override(text: str) -> Tuple[List[str], Any]:
    """``"optim.lr=1e-4"`` -> (["optim", "lr"], "1e-4"); the value is parsed as YAML, then typed by the schema."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key.sub=value")
    key, raw = text.split("=", 1)
    key = key.strip().lstrip("-")
    if not key:
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = safe_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: Dict[str, Any], overrides: Sequence[str], cls: type = TrainConfig) -> Dict[str, Any]:
    """Set each ``key.sub=value`` in the nested dict ``data``; keys are checked against the schema of ``cls``."""
    for text in overrides:
        path, value = parse_override(text)
        node, schema = data, cls
        for depth, part in enumerate(path):
            names = {f.name: f for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else None
            if names is not None and part not in names:
                prefix = ".".join(path[:depth]) or "<top>"
                raise ConfigError(f"override {text!r}: {prefix} has no key {part!r}; valid keys are {sorted(names)}")
            if depth == len(path) - 1:
                node[part] = value
                break
            hint = _section_type(typing.get_type_hints(schema)[part]) if names is not None else None
            if hint is not None and not dataclasses.is_dataclass(hint) and typing.get_origin(hint) not in (dict, Dict):
                raise ConfigError(f"override {text!r}: {'.'.join(path[: depth + 1])} is not a section")
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node, schema = child, hint
    return data


def _layer(base: Dict[str, Any], update: Dict[str, Any]) -> Dict[str, Any]:
    """``update`` over ``base``, mappings merged key by key at every depth (a later file changes one loss weight
    without restating the section); any other value, null included (``ctc: null`` drops a loss term), replaces."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _layer(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


ConfigPaths = Union[None, os.PathLike, str, Sequence[Union[os.PathLike, str]]]


def _read_config_file(path: os.PathLike, names: Set[str]) -> Dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        data = safe_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    unknown = sorted(set(data) - names)
    if unknown:  # checked before merging, so the message names the file
        raise ConfigError(f"{path}: unknown key(s) {unknown}; valid keys are {sorted(names)}")
    return renamed_keys(data, str(path))


def load_config(paths: ConfigPaths = None, overrides: Sequence[str] = (), cls: type = TrainConfig) -> Any:
    """Read the YAML file(s) at ``paths`` over the defaults, apply ``overrides``, and type-check everything.

    Several files are layered in order, each over the ones before it, section by section (a base config and a
    later run's few differences: ``conf/train_25hz.yaml`` then ``conf/train_12.5hz.yaml``); then overrides."""
    if paths is None:
        paths = []
    elif isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    names = {f.name for f in dataclasses.fields(cls)}
    layered: Dict[str, Any] = {}
    for path in paths:
        layered = _layer(layered, _read_config_file(path, names))
    data = apply_overrides(_merge(to_dict(cls()), layered, cls), renamed_overrides(overrides), cls)
    return from_dict(cls, data, " + ".join(map(str, paths)) or "defaults")


def dump_config(cfg: Any, header: str = "") -> str:
    """The resolved config as commented YAML (``header`` lines become ``#`` comments)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    body = yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "\n".join(lines + [body]) if lines else body


def config_diff(old: Dict[str, Any], new: Dict[str, Any], prefix: str = "") -> List[str]:
    """Human-readable differences between two plain config dicts (``key: old -> new``)."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(config_diff(a, b, name + "."))
        elif a != b:
            diffs.append(f"{name}: {a!r} -> {b!r}")
    return diffs
