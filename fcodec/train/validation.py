"""One pass over the dev set: every rank's share, summed over batches and ranks, averaged per item.

The trainer calls :func:`dev_pass` at each validation, in eval mode, without gradients and with the RNG states
preserved (:func:`fcodec.train.rng.preserved_rng`). Loss terms are weighted by each batch's item count; the
objective's additive statistics (e.g. the token histogram) are summed and handed to ``Objective.summarize``.
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager, Dict, Optional, Tuple

import torch
import torch.nn as nn

from fcodec.train.distributed import DistInfo, all_gather_objects, all_reduce_sum
from fcodec.train.objective import Objective, move_to


def dev_pass(
    model: nn.Module,
    objective: Objective,
    dev_dl: Any,
    dist: DistInfo,
    step: int,
    autocast: Callable[[], ContextManager],
    max_batches: int = 0,
) -> Tuple[Dict[str, float], Optional[Any]]:
    """The dev metrics (``loss``, each term, the objective's summaries) and the first batch (for audio examples).

    Every rank must call it (the sums are reduced over ranks); ``max_batches`` > 0 stops each rank early."""
    sums: Dict[str, torch.Tensor] = {}
    first_batch = None
    for index, batch in enumerate(dev_dl):
        if max_batches and index >= max_batches:
            break
        batch = move_to(batch, dist.device)
        if first_batch is None:
            first_batch = batch
        with autocast():
            result = objective.compute(model, batch, step, train=False)
        n = float(result.num_items)
        values = {
            "loss": result.loss.detach().double() * n,
            **{f"term/{k}": v.detach().double() * n for k, v in result.terms.items()},
            **{f"stat/{k}": v.detach().double() for k, v in result.stats.items()},
        }
        values["items"] = torch.tensor(n, dtype=torch.float64, device=dist.device)
        for key, value in values.items():
            sums[key] = sums[key] + value if key in sums else value.clone()
    keys = sorted(sums)
    key_lists = all_gather_objects(keys, dist)
    if any(k != keys for k in key_lists):
        raise RuntimeError(f"ranks computed different dev statistics: {key_lists}")
    for key in keys:
        all_reduce_sum(sums[key], dist)
    if "items" not in sums or sums["items"].item() == 0:
        raise RuntimeError("the dev data loader yields no batches: check data.dev_cuts")
    items = sums["items"].item()
    dev = {"loss": sums["loss"].item() / items}
    dev.update({k[5:]: sums[k].item() / items for k in keys if k.startswith("term/")})
    dev.update(objective.summarize({k[5:]: sums[k] for k in keys if k.startswith("stat/")}))
    return dev, first_batch
