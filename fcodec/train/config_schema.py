"""The training configuration's schema: one dataclass per section, their defaults and what each key means.

:mod:`fcodec.train.config` reads YAML files and overrides into these (and re-exports them); the field comments
here are the reference for every key a training config may set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from fcodec.utils.cli import UserError


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit the schema."""


@dataclass
class ModelConfig:
    # Where the training run starts: a folder with config.json + model.safetensors (a pretrained codec or the
    # previous run's exported best/), a config.json path, or a Hugging Face repo id.
    init_from: str = ""
    # How many 2x layer pairs fcodec.models.grow adds after loading (0 at 50 Hz, 1 at 25 and 12.5 Hz).
    grow: int = 0
    # What trains: "decompressor_only" (tokens unchanged) or "both_ste" (compressor + decompressor through the
    # straight-through quantiser). New parameters (grown layers and new_params) always train.
    trainable: str = "decompressor_only"
    # In a grown run, parameter-name prefixes that count as "new" beside the grown layers: they take
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
    # AdamW learning rate of the inherited parameters (at 50 Hz: of everything).
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
    # Validate on the dev cuts every N steps (0: only at the end of the run).
    dev_interval: int = 1000
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
    # sentencepiece model of losses.ctc. The recipe passes both to every training run; a run without those
    # terms ignores them.
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
    # The loss terms and their weights, handed to fcodec.losses.combined.build_losses (which documents and checks
    # the keys): feature, mel, stft, asr (Whisper; weight ramp, whisper name or checkpoint, targets, ...), ctc.
    # A term absent or of weight 0 is not built. A file's losses section replaces these defaults as a whole.
    losses: Dict[str, Any] = field(default_factory=default_losses)
    assets: AssetsConfig = field(default_factory=AssetsConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    # Adversarial training (fcodec.train.adversary); absent (null): none, the run trains as without it.
    gan: Optional[GanConfig] = None
