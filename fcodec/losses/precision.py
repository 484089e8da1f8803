"""Signal processing in float32 even inside a bf16/fp16 autocast region (STFTs, logs and resampling need it)."""

from __future__ import annotations

import contextlib

import torch


def float32_region(device: torch.device) -> contextlib.AbstractContextManager:
    """Disable autocast on ``device`` for the enclosed ops (inputs must be cast to float32 by the caller)."""
    return torch.autocast(device_type=device.type, enabled=False)
