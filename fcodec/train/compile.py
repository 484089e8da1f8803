"""``train.compile``: the dense parts of a codec training step through ``torch.compile``, and the fused AdamW.

Two parts are compiled, each a function of tensors only: the codec's training pass
(``FocalCodec.forward_train``: encoder, compressor, straight-through quantiser, decompressor, decoder; one graph)
and, when the run has the ASR loss, Whisper's pass inside it (log-mel, encoder, teacher-forced decoder,
cross-entropy: :meth:`fcodec.losses.asr.WhisperASRLoss.compile_whisper`). Their backward passes are compiled with
them. The rest stays eager Python: the loss schedules, tokenisation, lengths, the pseudo-label cache, the
reconstruction losses' STFTs. Nothing about the weights changes: the same parameters, state_dict, checkpoints and
``best/``; tests/train/test_compile.py checks that the losses and one training step match eager ones.

Costs: the first step of each new input shape compiles (minutes on a CPU; torch marks a dimension dynamic after it
changes once, so bucketed batches recompile a few times, not per batch), a switch of what trains (the end of
``model.new_only_steps``) and validation (eval mode, no gradient) compile their own graphs once.

The fused AdamW (one kernel for all parameters) is used on CUDA only; CPU keeps torch's default implementation.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn as nn

log = logging.getLogger(__name__)


def compile_training(module: nn.Module, **options: Any) -> None:
    """Compile ``module``'s codec pass and its ASR loss's Whisper pass in place (a :class:`CodecTrainModule`)."""
    module.codec_pass = torch.compile(module.codec.forward_train, **options)
    compiled = ["codec.forward_train"]
    for name, term in module.losses.terms.items():
        if hasattr(term, "compile_whisper"):
            term.compile_whisper(**options)
            compiled.append(f"losses.{name} (Whisper)")
    log.info("torch.compile: %s (the first steps of each new shape compile)", ", ".join(compiled))


def use_fused_optimizer(compile: bool, device: torch.device) -> bool:
    """The fused AdamW goes with ``train.compile`` on CUDA."""
    return bool(compile) and torch.device(device).type == "cuda"
