"""Accumulator routes: how a quantization-aware layer keeps its worst-case integer accumulator in budget.

A route decides the layer's weight quantizer and whether (and how) a pruning mask follows the weights.
Every route ends with the same exact check (``check_accumulators``), so a route is a training strategy,
never the guarantee itself.

- :class:`PruneRoute` (default): per-channel integer weights and, per output neuron, a mask that keeps the
  largest weights whose worst case still fits. The mask follows the weights at every training step and is
  recomputed from the final weights when pruning is made permanent: the bound holds by construction.
- :class:`AccumulatorAwareRoute` (experimental): Brevitas' A2Q / A2Q+ weight quantizers, which cap each
  neuron's L1 norm of integer weights. At the 4-6 bit accumulators FHE wants they round whole layers to
  zero, so they are kept for comparison only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from brevitas.quant.scaled_int import (
    Int8AccumulatorAwareWeightQuant,
    Int8AccumulatorAwareZeroCenterWeightQuant,
    Int8WeightPerChannelFloat,
)

from veil.quantization._bounds import fitting_mask

__all__ = ["ACCUMULATOR_ROUTES", "AccumulatorAwareRoute", "PruneRoute"]


@dataclass(frozen=True)
class PruneRoute:
    """Per-neuron pruning masks that keep the largest weights whose worst case fits the budget."""

    name: str = "prune"
    weight_quant: type = Int8WeightPerChannelFloat
    masks_follow_weights: bool = True
    experimental: bool = False

    def linear_options(self, budget: int) -> dict:
        """Extra keyword arguments of each ``QuantLinear`` (none: the budget is enforced by the mask)."""
        return {}

    def pruned_layers(self, n_layers: int, prunes_neurons: bool) -> list[int]:
        """Indices of the layers that carry a pruning mask: all of them."""
        return list(range(n_layers))

    def restrict_mask(
        self,
        mask: torch.Tensor,
        weight: torch.Tensor,
        integer_weight: np.ndarray,
        input_range: tuple[int, int],
        budget: int,
    ) -> torch.Tensor:
        """``mask`` narrowed to the largest kept weights (by float magnitude) whose worst case fits."""
        priority = (weight.abs() * mask).cpu().numpy()
        fits = fitting_mask(integer_weight * mask.cpu().numpy(), priority, *input_range, budget)
        return mask & torch.from_numpy(fits).to(mask.device)


@dataclass(frozen=True)
class AccumulatorAwareRoute:
    """Experimental: Brevitas' accumulator-aware weight quantizers (A2Q, or A2Q+ when zero-centred)."""

    name: str
    weight_quant: type
    masks_follow_weights: bool = False
    experimental: bool = True

    def linear_options(self, budget: int) -> dict:
        """The accumulator budget goes to the weight quantizer itself."""
        return {"weight_accumulator_bit_width": budget}

    def pruned_layers(self, n_layers: int, prunes_neurons: bool) -> list[int]:
        """Only hidden layers carry a mask, and only to remove whole neurons."""
        return list(range(n_layers - 1)) if prunes_neurons else []

    def restrict_mask(self, mask, weight, integer_weight, input_range, budget) -> torch.Tensor:
        """The quantizer bounds the accumulator: the mask stays as it is."""
        return mask


#: Every route by the name ``accumulator_route`` takes.
ACCUMULATOR_ROUTES = {
    route.name: route
    for route in (
        PruneRoute(),
        AccumulatorAwareRoute("a2q", Int8AccumulatorAwareWeightQuant),
        AccumulatorAwareRoute("a2q_plus", Int8AccumulatorAwareZeroCenterWeightQuant),
    )
}
