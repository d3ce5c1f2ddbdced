"""Prototype: bound the first layer's accumulators with each feature's own integer range.

The input quantizer's grid spans [-4, 3] (3 bits), but after standardization most of digits' features
only take a few of those levels on the training data. Clipping each feature to its training range
(on the client, before encryption) makes the worst case per feature smaller, so a 5-bit accumulator
reads more inputs. This script patches the model (clamp in training, per-feature ranges in the masks)
and scores the clear integer model on test inputs clipped the same way, which is what the clamp
would do in the exported graph.

Usage (repository root, PYTHONPATH=.): feature_ranges.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys

import numpy as np
import torch
from scoring import score
from torch.nn.utils import prune

import veil.sklearn._qnn_module as qnn_module
from veil.sklearn._accumulator import fitting_mask

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
Net = qnn_module.SparseQuantNeuralNetwork
original_forward = Net.forward


def forward(self, x):
    if self.training:
        if not hasattr(self, "feature_low"):
            self.feature_low = torch.full((x.shape[1],), float("inf"))
            self.feature_high = torch.full((x.shape[1],), float("-inf"))
        with torch.no_grad():
            self.feature_low = torch.minimum(self.feature_low, x.min(0).values)
            self.feature_high = torch.maximum(self.feature_high, x.max(0).values)
        x = torch.maximum(torch.minimum(x, self.feature_high), self.feature_low)
    return original_forward(self, x)


def feature_integer_range(self, sample, low, high):
    scale = float(sample.scale.reshape(-1)[0])
    shift = float(self.input_shift)
    lo = np.clip(np.round((self.feature_low.numpy() - shift) / scale), low, high).astype(np.int64)
    hi = np.clip(np.round((self.feature_high.numpy() - shift) / scale), low, high).astype(np.int64)
    return lo, hi


def refresh_masks(self):
    budgets = self.accumulator_budgets()
    for k in self._pruned_layer_indices():
        quantizer, linear = self._layer_inputs()[k]
        if not prune.is_pruned(linear):
            continue
        weight = linear.weight_orig.detach()
        mask = torch.ones_like(weight, dtype=torch.bool)
        sample = self._quantized_input(quantizer, linear.in_features)
        low, high = self._input_integer_range(quantizer, sample)
        if k == 0 and hasattr(self, "feature_low"):
            low, high = feature_integer_range(self, sample, low, high)
        integers = self._integer_weight(linear, sample, weight)
        priority = weight.abs().cpu().numpy()
        fits = fitting_mask(integers, priority, low, high, budgets[k] + self.budget_slack_bits)
        mask &= torch.from_numpy(fits)
        linear.weight_mask.copy_(mask.to(linear.weight_mask.dtype))
        linear.weight = linear.weight_orig * linear.weight_mask


Net.forward = forward
Net._refresh_masks = refresh_masks
Net.check_accumulators = lambda self: None  # the compiled circuit's lookups are recorded instead


def inputs_per_neuron(model, X_test):
    first = model.base_module_to_compile.linears[0].weight.detach().numpy()
    return {"first_layer_inputs_per_neuron": float(np.mean((first != 0).sum(1)))}


score("feature_ranges", datasets, seeds, out, params, clip_inputs=True, extra=inputs_per_neuron)
