"""Training configuration: typed dataclasses, YAML files, ``key.sub=value`` overrides, and the resolved record.

One YAML file per training stage (``conf/stage{1,2,3}.yaml``) fills a :class:`TrainConfig`; command-line
overrides such as ``optim.lr=1e-4`` or ``loss.asr.weight=30`` are applied on top and converted to the type the
field declares (so ``1e-4`` is a float even though YAML would read it as a string). Unknown keys are errors that
name the file (or the override) and list the keys that exist, because a silently ignored typo in a training
config costs a whole run. The resolved config is written next to the outputs as ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import yaml

from fcodec.utils.cli import UserError
from fcodec.utils.yaml_safe import safe_yaml


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit the schema."""


@dataclass
class ModelConfig:
    # Where the stage starts: a folder with config.json + model.safetensors (a pretrained codec or the previous
    # stage's exported best/), a config.json path, or a Hugging Face repo id.
    init_from: str = ""
    # How many 2x layer pairs fcodec.models.grow adds after loading (0 for stage 1, 1 for stages 2 and 3).
    grow: int = 0
    # What trains: "decompressor_only" (tokens unchanged) or "both_ste" (compressor + decompressor through the
    # straight-through quantiser). New parameters (grown layers and new_params) always train.
    trainable: str = "decompressor_only"
    # In a grown stage, parameter-name prefixes that count as "new" beside the grown layers: they take
    # optim.lr_new and train during the new-only warm-up. The predecessor counts the projections around the quantiser
    # as new (they see a new input distribution after growth).
    new_params: List[str] = field(default_factory=lambda: ["compressor.out_proj.", "decompressor.in_proj."])
    # Warm-up: for the first N steps only the new parameters train (the predecessor's "warmup_epochs").
    new_only_steps: int = 0
    # Start the grown layers near identity (our option, docs/architecture.md, Growth) instead of PyTorch's default init (upstream's).
    grow_identity_init: bool = False
    # Also fine-tune the decoder (WaveNeXt / Vocos head) beside what model.trainable trains, at optim.lr_decoder
    # (trainable: decoder_only trains it alone). The encoder always stays frozen; best/ keeps the upstream format.
    train_decoder: bool = False


@dataclass
class DataConfig:
    train_cuts: str = "data/cuts/train.jsonl.gz"
    dev_cuts: str = "data/cuts/dev.jsonl.gz"
    # Seconds of audio per batch (the lhotse unit), computed on the cropped segments for training.
    max_duration: float = 200.0
    # Random crop length for training in seconds (null: whole utterances).
    segment_duration: Optional[float] = 3.0
    # Seconds per dev batch (null: max_duration); dev batches hold whole utterances.
    dev_max_duration: Optional[float] = None
    # Dev batches per validation (0: the whole dev set).
    max_dev_batches: int = 0
    # Duration buckets of the samplers (null: fcodec.data's default); a dev set smaller than that needs fewer.
    num_buckets: Optional[int] = None
    num_workers: int = 2


@dataclass
class OptimConfig:
    # AdamW learning rate of the inherited parameters (in stage 1: of everything).
    lr: float = 5e-4
    # Learning rate of the new parameters (grown layers, model.new_params, the CTC head).
    lr_new: float = 5e-4
    # Learning rate of the decoder when it trains (model.train_decoder or trainable: decoder_only); null: lr.
    lr_decoder: Optional[float] = None
    betas: Tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0.01
    # Gradient-norm clipping (0: no clipping; the norm is still computed for logging and the NaN guard).
    grad_clip: float = 5.0
    # Linear LR warm-up over this many steps, from warmup_start_factor * lr to lr (0: none).
    warmup_steps: int = 0
    warmup_start_factor: float = 0.01
    # ReduceLROnPlateau on the dev loss (counted in validations, not epochs).
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    plateau_threshold: float = 1e-3
    plateau_cooldown: int = 2
    min_lr: float = 1e-6


@dataclass
class LoopConfig:
    # Stop after this many training batches (steps), or after max_epochs passes over the data (0: unlimited).
    max_steps: int = 100000
    max_epochs: int = 0
    valid_interval: int = 1000
    # Write a resumable checkpoint every N steps; the last keep_last_k are kept.
    save_every_n: int = 1000
    keep_last_k: int = 3
    log_interval: int = 50
    # Early stopping: stop after this many validations without an improvement of at least min_delta (0: never).
    early_stop_patience: int = 20
    early_stop_min_delta: float = 1e-4
    # NaN/inf guard: this many non-finite steps in a row stop the run (the offending batch is saved).
    max_nonfinite: int = 10
    # Mixed precision on CUDA: "bf16" or "none" (CPU always runs in float32).
    amp: str = "bf16"
    # Dev reconstructions written to TensorBoard as audio at each validation.
    num_audio_samples: int = 3
    seed: int = 42
    # CPU determinism (torch.use_deterministic_algorithms) for bit-exact resume tests and debugging.
    deterministic: bool = False
    # torch intra-op threads (0: torch's default).
    num_threads: int = 0
    # "auto" (CUDA when available), "cpu" or "cuda".
    device: str = "auto"
    # DDP: set when some trainable parameters get no gradient in some steps.
    find_unused_parameters: bool = False
    # torch.compile the codec's training pass and the ASR loss's Whisper pass, and use the fused AdamW on CUDA
    # (fcodec.train.compile): the same losses, faster steps after the first ones (which compile, minutes on CPU).
    compile: bool = False


@dataclass
class AssetsConfig:
    # Model files the recipe's stage 3 prepares, given to the losses that need them unless a losses entry names
    # its own: the Whisper of losses.asr (a published name or an openai-whisper checkpoint path) and the
    # sentencepiece model of losses.ctc. The recipe passes both to every stage; a stage without those terms
    # ignores them.
    whisper: str = ""
    bpe_model: str = ""


@dataclass
class GanConfig:
    """Adversarial training (present: on; absent: off). The generator's weights are ``losses.adversarial`` and
    ``losses.feature_matching``; this section is the discriminators, their optimizer and when they start."""

    # Multi-period discriminator (HiFi-GAN): its periods ([] for none) and width (layer widths are channels x
    # 1, 4, 16, 32, 32, capped at period_max_channels; HiFi-GAN: 32 and 1024).
    periods: List[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    period_channels: int = 32
    period_max_channels: int = 1024
    # Multi-resolution STFT discriminator (UnivNet / Vocos): [n_fft, hop, window] at 24 kHz ([] for none), width.
    resolutions: List[List[int]] = field(default_factory=lambda: [[1024, 120, 600], [2048, 240, 1200], [512, 50, 240]])
    resolution_channels: int = 32
    # "hinge" or "lsgan" (least squares), for both the discriminators and the generator's adversarial term.
    loss: str = "hinge"
    # The discriminators train from this step on, and the generator's GAN terms start here (generator warm-up
    # on the reconstruction/ASR losses first).
    start_step: int = 0
    # Resample the reconstruction to the input rate and back before judging it (the 16 kHz real audio has
    # nothing above 8 kHz; without this the discriminators win on the empty top band alone).
    band_limit: bool = True
    # The discriminators' AdamW (HiFi-GAN: 2e-4, betas 0.8/0.99) and per-step exponential LR decay (1: none).
    lr: float = 2.0e-4
    betas: Tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-8
    weight_decay: float = 0.0
    lr_decay: float = 1.0
    # Gradient-norm clipping of the discriminators (0: none; the norm still feeds the NaN guard and the log).
    grad_clip: float = 10.0


def default_losses() -> Dict[str, Any]:
    """The predecessor's reconstruction terms, feature:mel:stft = 1:5:2 (no ASR loss, no CTC head)."""
    return {"feature": {"weight": 1.0}, "mel": {"weight": 5.0}, "stft": {"weight": 2.0}}


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # The loss terms and their weights, handed to fcodec.losses.config.build_losses (which documents and checks
    # the keys): feature, mel, stft, asr (Whisper; weight ramp, whisper name or checkpoint, targets, ...), ctc.
    # A term absent or of weight 0 is not built. A file's losses section replaces these defaults as a whole.
    losses: Dict[str, Any] = field(default_factory=default_losses)
    assets: AssetsConfig = field(default_factory=AssetsConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    # Adversarial training (fcodec.train.adversary); absent (null): none, the stage trains as without it.
    gan: Optional[GanConfig] = None


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
    return data


def load_config(paths: ConfigPaths = None, overrides: Sequence[str] = (), cls: type = TrainConfig) -> Any:
    """Read the YAML file(s) at ``paths`` over the defaults, apply ``overrides``, and type-check everything.

    Several files are layered in order, each over the ones before it, section by section (a base config and a
    later stage's few differences: ``conf/train_25hz.yaml`` then ``conf/train_12.5hz.yaml``); then overrides."""
    if paths is None:
        paths = []
    elif isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    names = {f.name for f in dataclasses.fields(cls)}
    layered: Dict[str, Any] = {}
    for path in paths:
        layered = _layer(layered, _read_config_file(path, names))
    data = apply_overrides(_merge(to_dict(cls()), layered, cls), overrides, cls)
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
