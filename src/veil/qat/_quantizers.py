"""The Brevitas quantizers of the network's input and activations."""

from __future__ import annotations

import warnings

import brevitas.nn as qnn
from brevitas.core.scaling import ParameterFromRuntimeStatsScaling
from brevitas.inject.enum import ScalingImplType
from brevitas.quant.fixed_point import Int8ActPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from brevitas.quant.scaled_int import Int8ActPerTensorFloat, Uint8ActPerTensorFloat
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from veil._warnings import user_stacklevel

from ._defaults import ACTIVATION_STATS_STEPS

__all__ = ["NON_NEGATIVE_ACTIVATIONS", "make_quantizer", "statistics_steps_left", "warn_if_scales_unlearned"]

# Activations whose output is never negative get an unsigned quantizer: the sign bit would be wasted.
NON_NEGATIVE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.Sigmoid,
    nn.Hardsigmoid,
    nn.Softplus,
)


def make_quantizer(
    n_bits: int, signed: bool, narrow: bool, power_of_two_scaling: bool, fixed_range: float | None = None
) -> qnn.QuantIdentity:
    """A per-tensor quantizer whose scale comes from statistics, then is learned; returns QuantTensors.

    With ``fixed_range``, the scale is not learned: it is ``fixed_range / 2**(n_bits - 1)`` (signed), so
    values are clipped to about ``±fixed_range``, whatever ``power_of_two_scaling``.
    """
    if fixed_range is not None:
        quant = Int8ActPerTensorFloat if signed else Uint8ActPerTensorFloat
        scaling = {"scaling_impl_type": ScalingImplType.CONST, "scaling_init": float(fixed_range)}
    else:
        if power_of_two_scaling:
            quant = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
        else:
            quant = Int8ActPerTensorFloat if signed else Uint8ActPerTensorFloat
        scaling = {"collect_stats_steps": ACTIVATION_STATS_STEPS}
    return qnn.QuantIdentity(
        act_quant=quant,
        bit_width=n_bits,
        signed=signed,
        narrow_range=narrow,
        return_quant_tensor=True,
        **scaling,
    )


def statistics_steps_left(quantizers: list[qnn.QuantIdentity]) -> int:
    """Training steps before every one of ``quantizers`` stops collecting statistics and learns its scale."""
    counters = [
        (module.collect_stats_steps, module.counter)
        for quantizer in quantizers
        for module in quantizer.modules()
        if isinstance(module, ParameterFromRuntimeStatsScaling)
    ]
    return max((steps + 1 - counter for steps, counter in counters), default=0)


def warn_if_scales_unlearned(quantizers: list[qnn.QuantIdentity]) -> None:
    """Warn (``ConvergenceWarning``) when training stopped before ``quantizers`` learned their scales."""
    steps_left = statistics_steps_left(quantizers)
    if steps_left:
        warnings.warn(
            f"training stopped {steps_left} optimizer steps before the input and activation "
            f"quantizers learn their scales (after {ACTIVATION_STATS_STEPS} steps of statistics), which "
            "costs accuracy: raise max_epochs or lower batch_size",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
