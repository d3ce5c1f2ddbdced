"""Partial output sums: every output reads every hidden neuron, each encrypted sum within its budget.

The output layer's accumulators are decrypted, not looked up, so they need not be one sum: the hidden
neurons are cut into groups small enough that a group's worst case fits the output budget whatever its
weights, the circuit returns one partial sum per (group, output), and the client adds the partial sums of
each output after decryption. Under encryption that costs only more output ciphertexts; in exchange no
output weight has to be pruned for the budget, where a single 7-bit sum lets a class read about nine
3-bit neurons.

In the torch module the output layer is one ``QuantLinear`` with ``n_groups * n_outputs`` rows whose
weights are fixed to zero outside their group (row ``g * n_outputs + k`` is output ``k``'s partial sum
over group ``g``); :func:`add_partial_sums` follows it, and exports as ``Reshape -> ReduceSum``, which
Veil's integer graph leaves to the client.
"""

from __future__ import annotations

import math

import torch

__all__ = ["OutputGroups", "add_partial_sums"]


class OutputGroups:
    """How the hidden neurons feeding the output layer are cut into groups.

    Parameters
    ----------
    n_inputs : int
        Neurons feeding the output layer.
    n_outputs : int
        Classes or regression targets.
    group_size : int
        The most neurons whose worst case fits the output budget whatever their weights (at least 1).
    """

    def __init__(self, n_inputs: int, n_outputs: int, group_size: int) -> None:
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs
        self.group_size = max(1, min(group_size, n_inputs))
        self.n_groups = math.ceil(n_inputs / self.group_size)

    @property
    def n_partial_sums(self) -> int:
        """Rows of the output layer: one partial sum per group and output."""
        return self.n_groups * self.n_outputs

    def weight_mask(self) -> torch.Tensor | None:
        """``(n_partial_sums, n_inputs)`` booleans, True where a row may read a neuron (None: one group)."""
        if self.n_groups == 1:
            return None
        row_group = torch.arange(self.n_partial_sums) // self.n_outputs
        input_group = torch.arange(self.n_inputs) // self.group_size
        return row_group[:, None] == input_group[None, :]


def add_partial_sums(out: torch.Tensor, n_outputs: int) -> torch.Tensor:
    """``(rows, n_groups * n_outputs)`` partial sums → ``(rows, n_outputs)`` totals."""
    if out.shape[-1] == n_outputs:
        return out
    return out.reshape(out.shape[0], -1, n_outputs).sum(dim=1)
