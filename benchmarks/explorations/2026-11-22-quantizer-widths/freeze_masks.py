"""Prototype: freeze each neuron's inputs once the accumulator budget is closed.

Today the masks are recomputed from the weights' magnitudes at every training step. A dropped weight
gets no gradient and keeps a stale value, so when a kept weight shrinks below it the two swap, and the
neuron takes back an input whose weight has not trained since it was dropped. Here, once the schedule's
slack reaches 0, the masks are computed once more and after that can only drop weights (a kept weight
whose integer value grows may still have to go, so that the bound holds).

Usage (repository root, PYTHONPATH=.): freeze_masks.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys

import torch
from scoring import score
from torch.nn.utils import prune

import veil.sklearn._qnn_module as qnn_module

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}


def refresh_masks(self):
    frozen = self.budget_slack_bits == 0 and getattr(self, "masks_closed", False)
    budgets = self.accumulator_budgets()
    for k in self._pruned_layer_indices():
        quantizer, linear = self._layer_inputs()[k]
        if not prune.is_pruned(linear):
            continue
        weight = linear.weight_orig.detach()
        mask = torch.ones_like(weight, dtype=torch.bool)
        if self._neuron_masks[k] is not None:
            mask &= self._neuron_masks[k][:, None]
        if frozen:
            mask &= linear.weight_mask.bool()
        sample = self._quantized_input(quantizer, linear.in_features)
        low, high = self._input_integer_range(quantizer, sample)
        integers = self._integer_weight(linear, sample, weight) * mask.cpu().numpy()
        priority = (weight.abs() * mask).cpu().numpy()
        fits = qnn_module.fitting_mask(integers, priority, low, high, budgets[k] + self.budget_slack_bits)
        mask &= torch.from_numpy(fits).to(mask.device)
        linear.weight_mask.copy_(mask.to(linear.weight_mask.dtype))
        linear.weight = linear.weight_orig * linear.weight_mask
    self.masks_closed = self.budget_slack_bits == 0


qnn_module.SparseQuantNeuralNetwork._refresh_masks = refresh_masks
score("freeze", datasets, seeds, out, params)
