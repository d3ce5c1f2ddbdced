"""Pruning masks that keep the worst-case accumulators of Brevitas conv and linear layers within budgets.

The lookup after a layer reads its accumulator: a 5-bit accumulator is a 26 ms lookup, a 7-bit one 123 ms
(2 cores). Rounding a wide accumulator down costs one more bootstrap per removed bit, so the digits CNN keeps
every accumulator small by construction instead, as Veil's built-in networks do (``veil.qat``'s prune route):
per output channel, the largest weights whose worst case still fits the budget are kept. The masks follow
the weights at every training step, under a budget that closes over the first epochs
(:class:`veil.qat._budget_schedule.GradualAccumulatorBudget`), and are baked into the weights at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils import prune

from veil.errors import AccumulatorOverflowError
from veil.qat._layer_integers import input_integer_range, integer_weight, quantized_input
from veil.quantization._bounds import accumulator_bit_width, fitting_mask


@dataclass(frozen=True)
class BudgetedLayer:
    """A Brevitas conv or linear ``layer``, the quantizer whose output it reads, and its accumulator budget.

    ``input_quant`` must return quant tensors (``return_quant_tensor=True``) with a per-tensor scale, and
    ``layer`` must learn its weight scale (``weight_scaling_impl_type="parameter_from_stats"``) so that the
    integer weights the mask is computed from are the ones the layer uses once masked.
    """

    input_quant: torch.nn.Module
    layer: torch.nn.Module
    budget_bits: int

    def input_range(self) -> tuple[int, int]:
        return input_integer_range(self.input_quant, quantized_input(self.input_quant, 1))

    def integer_weights(self, weight: torch.Tensor | None = None) -> np.ndarray:
        """Integer weights, one row per output channel (a kernel flattened: the accumulator's terms)."""
        integers = integer_weight(self.layer, None, weight)
        return integers.reshape(integers.shape[0], -1)

    def accumulator_bit_width(self) -> int:
        return accumulator_bit_width(self.integer_weights(), *self.input_range())


class AccumulatorMasks:
    """Install, refresh and bake the masks of ``layers`` (a list of :class:`BudgetedLayer`)."""

    def __init__(self, layers: list[BudgetedLayer]):
        self.layers = layers

    def install(self) -> None:
        for budgeted in self.layers:
            prune.custom_from_mask(budgeted.layer, "weight", torch.ones_like(budgeted.layer.weight))

    def refresh(self, slack_bits: int = 0) -> None:
        """Recompute each mask from the unmasked weights, for budgets ``slack_bits`` wider than the real."""
        for budgeted in self.layers:
            layer = budgeted.layer
            weight = layer.weight_orig.detach()
            keep = fitting_mask(
                budgeted.integer_weights(weight),
                weight.abs().reshape(weight.shape[0], -1).cpu().numpy(),
                *budgeted.input_range(),
                budgeted.budget_bits + slack_bits,
            )
            layer.weight_mask.copy_(torch.from_numpy(keep.reshape(weight.shape)).to(layer.weight_mask.dtype))
            # torch recomputes ``weight`` before the next forward only; do it now for the quantizer calls.
            layer.weight = layer.weight_orig * layer.weight_mask

    def bake(self) -> None:
        """Masks at the real budgets, multiplied into the weights; the reparametrization goes."""
        self.refresh(0)
        for budgeted in self.layers:
            # Registering the baked weight makes Brevitas initialize the weight scale again, from the
            # masked weights: the learned scale is put back, or the integers would no longer fit.
            scale_state = budgeted.layer.weight_quant.state_dict()
            prune.remove(budgeted.layer, "weight")
            budgeted.layer.weight_quant.load_state_dict(scale_state)
        widths = [budgeted.accumulator_bit_width() for budgeted in self.layers]
        budgets = [budgeted.budget_bits for budgeted in self.layers]
        if any(width > budget for width, budget in zip(widths, budgets, strict=True)):
            raise AccumulatorOverflowError(f"accumulator bit-widths {widths} exceed their budgets {budgets}")
