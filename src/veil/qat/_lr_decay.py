"""Learning-rate decay for the built-in networks: constant while the accumulator budgets close, then annealed.

Once the budgets are real (see ``_budget_schedule``), the remaining epochs train the final sparse network;
annealing the weights' rate to zero along a half cosine lets them settle on quantization levels. The input
and activation quantizers' learned scales start learning late (after Brevitas' statistics phase), so they
keep the full rate, then stop for the last epochs: a power-of-two scale that crosses a rounding boundary
doubles or halves, and the weights need some rate left to follow it.
"""

from __future__ import annotations

import math

from skorch.callbacks import Callback

from ._budget_schedule import RAMP_FRACTION

__all__ = ["LEARNED_SCALES_PATTERN", "LateCosineDecay"]

#: skorch ``optimizer__param_groups`` pattern of the input and activation quantizers' learned scales (the
#: weight quantizers are ``weight_quant``).
LEARNED_SCALES_PATTERN = "*act_quant*"
#: Share of the epochs during which the learned scales train.
SCALES_FRACTION = 0.9


class LateCosineDecay(Callback):
    """Set the learning rate of every optimizer group before each epoch.

    Groups of weights: the initial rate, then a half cosine down to 0. Groups holding a learned quantizer
    scale (``module_.learned_scales()``): the initial rate, then 0.

    Parameters
    ----------
    hold_fraction : float in [0, 1)
        Fraction of ``max_epochs`` before the weights' rate starts to fall; by default the epochs during
        which the accumulator budgets close.
    scales_fraction : float in (0, 1]
        Fraction of ``max_epochs`` during which the learned scales train (1: to the end).
    """

    def __init__(
        self, hold_fraction: float = RAMP_FRACTION, scales_fraction: float = SCALES_FRACTION
    ) -> None:
        self.hold_fraction = hold_fraction
        self.scales_fraction = scales_fraction

    def factor(self, epoch: int, max_epochs: int) -> float:
        """Learning-rate factor of the weights for the 0-based ``epoch`` of ``max_epochs``."""
        if not 0 <= self.hold_fraction < 1:
            raise ValueError(f"hold_fraction must be in [0, 1), got {self.hold_fraction!r}")
        hold_epochs = self.hold_fraction * max_epochs
        if epoch < hold_epochs:
            return 1.0
        progress = (epoch - hold_epochs) / (max_epochs - hold_epochs)
        return (1.0 + math.cos(math.pi * progress)) / 2.0

    def scales_factor(self, epoch: int, max_epochs: int) -> float:
        """Learning-rate factor of the learned scales for the 0-based ``epoch`` of ``max_epochs``: 1 or 0."""
        if not 0 < self.scales_fraction <= 1:
            raise ValueError(f"scales_fraction must be in (0, 1], got {self.scales_fraction!r}")
        return 1.0 if epoch < self.scales_fraction * max_epochs else 0.0

    def on_epoch_begin(self, net, **kwargs) -> None:
        epoch = len(net.history) - 1  # skorch has already appended this epoch's row
        weights_factor = self.factor(epoch, net.max_epochs)
        scales_factor = self.scales_factor(epoch, net.max_epochs)
        scales = {id(parameter) for parameter in net.module_.learned_scales()}
        for group in net.optimizer_.param_groups:
            holds_scale = any(id(parameter) in scales for parameter in group["params"])
            # torch's own schedulers keep the starting rate under the same key.
            initial = group.setdefault("initial_lr", group["lr"])
            group["lr"] = initial * (scales_factor if holds_scale else weights_factor)
