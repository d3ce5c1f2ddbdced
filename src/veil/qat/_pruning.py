"""Pruning masks of a :class:`~veil.qat.SparseQuantNeuralNetwork`: whole neurons, and the accumulator budget.

torch's pruning reparametrization holds each masked layer's weights as ``weight_orig`` times
``weight_mask``. The masks are recomputed from the unmasked weights at every training step (the prune
route) and baked in once training ends.
"""

from __future__ import annotations

import torch
from torch.nn.utils import prune

from ._layer_integers import integer_weight

__all__ = ["adapt_pruned_state", "install_masks", "pruning_installed", "refresh_masks", "remove_masks"]


def pruning_installed(network) -> bool:
    """Whether any linear layer of ``network`` carries a pruning mask."""
    return any(prune.is_pruned(linear) for linear in network.linears)


def _pruned_layer_indices(network) -> list[int]:
    return network.route.pruned_layers(network.n_layers, network.n_prune_neurons_percentage > 0)


def neuron_mask(linear, percentage: float) -> torch.Tensor | None:
    """Keep all but the ``percentage`` of output neurons with the smallest L2 weight norm (None: keep all)."""
    n_pruned = int(percentage * linear.out_features)
    if n_pruned == 0:
        return None
    with torch.no_grad():
        norms = linear.weight.detach().norm(p=2, dim=1)
        keep = torch.ones(linear.out_features, dtype=torch.bool)
        keep[torch.argsort(norms, stable=True)[:n_pruned]] = False
    return keep


def install_masks(network) -> None:
    """Choose the neuron masks from the current weights, install the masks, and compute them."""
    for k in range(network.n_layers - 1):
        network._neuron_masks[k] = neuron_mask(network.linears[k], network.n_prune_neurons_percentage)
    for k in _pruned_layer_indices(network):
        linear = network.linears[k]
        if not prune.is_pruned(linear):
            prune.custom_from_mask(linear, "weight", torch.ones_like(linear.weight))
    refresh_masks(network)


def refresh_masks(network) -> None:
    """Recompute each masked layer's mask from its current unmasked weights."""
    budgets = network.accumulator_budgets()
    for k in _pruned_layer_indices(network):
        linear = network.linears[k]
        if not prune.is_pruned(linear):
            continue
        weight = linear.weight_orig.detach()
        mask = torch.ones_like(weight, dtype=torch.bool)
        if network._neuron_masks[k] is not None:
            mask &= network._neuron_masks[k][:, None]
        fixed = network.fixed_weight_mask(k)
        if fixed is not None:
            mask &= fixed.to(mask.device)
        if network.route.masks_follow_weights:
            integers = integer_weight(linear, None, weight)
            budget = budgets[k] + network.budget_slack_bits
            mask = network.route.restrict_mask(mask, weight, integers, network._input_ranges[k], budget)
        linear.weight_mask.copy_(mask.to(linear.weight_mask.dtype))
        # torch's pruning hook recomputes ``weight`` only before the next forward; do it now so that
        # ``quant_weight()`` and the accumulator check see the new mask.
        linear.weight = linear.weight_orig * linear.weight_mask


def remove_masks(network) -> None:
    """Bake every mask into its layer's weights and drop the reparametrization and the neuron masks."""
    for linear in network.linears:
        if prune.is_pruned(linear):
            prune.remove(linear, "weight")
    network._neuron_masks = [None] * network.n_layers


def adapt_pruned_state(module, state_dict, prefix, *_) -> None:
    """Let a state dict saved after pruning was made permanent load into a module that prunes, and back."""
    for k, linear in enumerate(module.linears):
        key = f"{prefix}linears.{k}.weight"
        if prune.is_pruned(linear) and key in state_dict:
            state_dict[key + "_orig"] = state_dict.pop(key)  # its zeros are already in the weights
            state_dict[key + "_mask"] = torch.ones_like(linear.weight_mask)
        elif not prune.is_pruned(linear) and key + "_orig" in state_dict:
            state_dict[key] = state_dict.pop(key + "_orig") * state_dict.pop(key + "_mask")
