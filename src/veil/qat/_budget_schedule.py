"""Gradual pruning for the built-in networks: the accumulator budgets tighten over the first epochs.

A neuron whose 4-bit accumulator holds two inputs must choose them among all of its layer's inputs. Under
a budget enforced from the first step, the weights that the mask drops get no gradient, so the random
initialization makes the choice. Starting with a loose budget lets every weight train first; the mask
then keeps the weights that grew, as the budget closes.
"""

from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["GradualAccumulatorBudget"]

# 8 extra bits let a neuron read 2**8 times more inputs than its budget: every layer of the built-in
# networks is dense at the start. The budget is the real one from 60% of the epochs on, so the last 40%
# train the final sparse network.
START_SLACK_BITS = 8
RAMP_FRACTION = 0.6


class GradualAccumulatorBudget(Callback):
    """Set ``module_.budget_slack_bits`` before each epoch, from ``start_bits`` down to 0 (cubic).

    Parameters
    ----------
    start_bits : int
        Slack at the first epoch.
    ramp_fraction : float
        Fraction of ``max_epochs`` after which the slack is 0.
    """

    def __init__(self, start_bits: int = START_SLACK_BITS, ramp_fraction: float = RAMP_FRACTION) -> None:
        self.start_bits = start_bits
        self.ramp_fraction = ramp_fraction

    def slack_bits(self, epoch: int, max_epochs: int) -> int:
        """Slack for the 0-based ``epoch`` of ``max_epochs``: ``start_bits * (1 - progress)**3``, rounded."""
        ramp_epochs = self.ramp_fraction * max_epochs
        progress = 1.0 if ramp_epochs <= 0 else min(1.0, epoch / ramp_epochs)
        return int(round(self.start_bits * (1.0 - progress) ** 3))

    def on_epoch_begin(self, net, **kwargs) -> None:
        epoch = len(net.history) - 1  # skorch has already appended this epoch's row
        net.module_.budget_slack_bits = self.slack_bits(epoch, net.max_epochs)
