"""The torch module behind Veil's built-in networks: a quantization-aware MLP with bounded accumulators.

``SparseQuantNeuralNetwork`` is a stack of Brevitas layers::

    QuantIdentity(n_a_bits)                             input quantizer, returns a QuantTensor
    [QuantLinear(n_w_bits, float bias) -> activation -> QuantIdentity(n_a_bits)] * (n_layers - 1)
    QuantLinear(n_w_bits, float bias)                   float output, no output quantizer

Once training ends, every hidden layer's worst-case integer accumulator (over every input its input
quantizer can represent, computed from the integer weights) fits ``n_accum_bits`` signed bits, and the
output layer's fits ``output_accum_bits``. Two ways to get there are implemented, selected by
``accumulator_route``:

- ``"prune"`` (default): a per-channel integer weight quantizer and, per output neuron, a pruning mask that
  keeps the largest weights whose worst case still fits. The mask follows the weights at every training step
  and is recomputed from the final weights when pruning is made permanent: the bound holds by construction.
- ``"a2q"`` / ``"a2q_plus"``: Brevitas' accumulator-aware weight quantizers, which cap each neuron's L1 norm
  of integer weights (rounding towards zero) from the input's bit-width and sign. Measured to be far less
  accurate at the small accumulators FHE wants (whole layers round to zero), kept for comparison.

Whatever the route, ``on_train_end`` checks the exact bound and raises ``AccumulatorOverflowError`` if it
fails.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import brevitas.nn as qnn
import numpy as np
import torch
from brevitas.core.scaling import ParameterFromRuntimeStatsScaling
from brevitas.function.ops import max_int, min_int
from brevitas.quant.fixed_point import Int8ActPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from brevitas.quant.scaled_int import (
    Int8AccumulatorAwareWeightQuant,
    Int8AccumulatorAwareZeroCenterWeightQuant,
    Int8ActPerTensorFloat,
    Int8WeightPerChannelFloat,
    Uint8ActPerTensorFloat,
)
from brevitas.quant_tensor import IntQuantTensor
from sklearn.exceptions import ConvergenceWarning
from torch import nn
from torch.nn.utils import prune

from veil.errors import AccumulatorOverflowError
from veil.quantization._bounds import (
    accumulator_bit_width,
    fitting_mask,
    max_fitting_inputs,
    signed_bit_width,
)
from veil.sklearn._qnn_defaults import (
    ACTIVATION_STATS_STEPS,
    DEFAULT_ACCUMULATOR_ROUTE,
    DEFAULT_MIN_HIDDEN_NEURONS,
    DEFAULT_MIN_OUTPUT_ACCUM_BITS,
    DEFAULT_N_A_BITS,
    DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
    DEFAULT_N_W_BITS,
    default_mid_rise_inputs,
    default_n_accum_bits,
)

__all__ = ["SparseQuantNeuralNetwork"]

MIN_QUANT_BITS = 2
MAX_QUANT_BITS = 8

# Activations whose output is never negative get an unsigned quantizer: the sign bit would be wasted.
NON_NEGATIVE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.Sigmoid,
    nn.Hardsigmoid,
    nn.Softplus,
)

_WEIGHT_QUANTIZERS = {
    "prune": Int8WeightPerChannelFloat,
    "a2q": Int8AccumulatorAwareWeightQuant,
    "a2q_plus": Int8AccumulatorAwareZeroCenterWeightQuant,
}
ACCUMULATOR_ROUTES = tuple(_WEIGHT_QUANTIZERS)


def _integer_range(bit_width: int, signed: bool, narrow: bool) -> tuple[int, int]:
    bits = torch.tensor(float(bit_width))
    return int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))


def _activation_quantizer(signed: bool, power_of_two_scaling: bool) -> type:
    if power_of_two_scaling:
        return Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
    return Int8ActPerTensorFloat if signed else Uint8ActPerTensorFloat


def _is_integer(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _invalid(name: str, expected: str, value) -> ValueError:
    return ValueError(f"{name} must be {expected}, got {value!r}")


def _adapt_saved_state(module, state_dict, prefix, *_) -> None:
    """Let a state dict saved with or without pruning masks, or before inputs were shifted, load."""
    state_dict.setdefault(f"{prefix}input_shift", torch.zeros(()))  # no shift: the grid it was trained on
    for k, linear in enumerate(module.linears):
        key = f"{prefix}linears.{k}.weight"
        if prune.is_pruned(linear) and key in state_dict:
            # Saved after the pruning was made permanent: its zeros are already in the weights.
            state_dict[key + "_orig"] = state_dict.pop(key)
            state_dict[key + "_mask"] = torch.ones_like(linear.weight_mask)
        elif not prune.is_pruned(linear) and key + "_orig" in state_dict:
            state_dict[key] = state_dict.pop(key + "_orig") * state_dict.pop(key + "_mask")


class SparseQuantNeuralNetwork(nn.Module):
    """Quantization-aware MLP whose integer accumulators never exceed their bit budgets.

    Args:
        input_dim: number of input features.
        n_layers: number of linear layers (``n_layers - 1`` hidden layers).
        n_outputs: number of classes or regression targets.
        n_hidden_neurons_multiplier: hidden layers have ``n_hidden_neurons_multiplier * input_dim`` neurons,
            and at least ``min_hidden_neurons``.
        n_w_bits: bits of the (symmetric, narrow-range) integer weights, 2 to 8.
        n_a_bits: bits of the quantized input and of every quantized activation, 2 to 8.
        n_accum_bits: bits of the signed integer accumulator of each hidden layer, worst case over all inputs:
            these accumulators are what the table lookups read, so they set the lookups' precision. ``None``
            (default) chooses from ``input_dim`` (see ``default_n_accum_bits``), and at least what one input
            times one weight needs; the attribute holds the chosen value.
        n_prune_neurons_percentage: fraction in [0, 1) of each hidden layer's neurons to prune, those with the
            smallest L2 weight norm when pruning is enabled (``"prune"`` route only).
        activation_function: a ``torch.nn.Module`` subclass, instantiated once per hidden layer.
        quant_narrow: narrow-range input and activation quantizers ([-3, 3] instead of [-4, 3] at 3 bits);
            weights are always symmetric narrow-range with a zero point of 0.
        quant_signed: signed input quantizer and signed quantizers after activations that can be negative.
        power_of_two_scaling: power-of-two scales for the input and activation quantizers.
        accumulator_route: how the accumulator bound is enforced: ``"prune"``, ``"a2q"`` or ``"a2q_plus"``.
        n_accum_bits_output: bits of the output layer's accumulator, which is decrypted without a lookup.
            ``None`` (default) means ``max(n_accum_bits, 7)``: up to 7 bits it was measured to cost nothing.
        min_hidden_neurons: the fewest neurons a hidden layer has, however few the input features (4
            hidden neurons for iris' 4 features cost 18 points of accuracy). At 4-bit accumulators many of
            them end idle (moons kept 6 of 16) and are removed from the circuit; 32 took moons from -10.8
            and -4.4 points against the float MLP to -1.6 and -2.0, for 13-18 lookups.
        mid_rise_inputs: shift the model's inputs by half the input quantizer's step before quantizing them,
            so that its levels sit at odd multiples of half a step, symmetric around zero (3 bits at a step
            of 0.5: -1.75 to 1.75 instead of -2 to 1.5). The shift is the ``input_shift`` buffer, followed
            during training and a constant once trained (the client subtracts it). ``None`` (default): up
            to 32 features.

    Pruning is enabled at construction (``"prune"`` route, or neuron pruning) and made permanent, with a
    final check of every accumulator, by ``on_train_end``. ``on_train_end`` first puts back the input and
    activation scales that the last training step used, in case the optimizer's last step moved a
    power-of-two scale to the next power.

    While training, the ``"prune"`` route's masks use every budget plus ``budget_slack_bits`` (0 unless set),
    so that a schedule can start dense and tighten (the estimators lower it from 8 to 0 over the first 60%
    of the epochs). ``make_pruning_permanent`` resets it to 0 first: the final bound is the real one.

    Raises:
        ValueError: a parameter is out of range, or ``n_accum_bits`` cannot hold even one input times one
            weight.

    Example:
        >>> net = SparseQuantNeuralNetwork(input_dim=4, n_layers=2, n_outputs=3)
        >>> net(torch.randn(8, 4)).shape
        torch.Size([8, 3])
        >>> widths, budgets = net.accumulator_bit_widths(), net.accumulator_budgets()
        >>> all(width <= budget for width, budget in zip(widths, budgets))
        True
    """

    def __init__(
        self,
        input_dim: int,
        n_layers: int,
        n_outputs: int,
        n_hidden_neurons_multiplier: int = DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
        n_w_bits: int = DEFAULT_N_W_BITS,
        n_a_bits: int = DEFAULT_N_A_BITS,
        n_accum_bits: int | None = None,
        n_prune_neurons_percentage: float = 0.0,
        activation_function: type[nn.Module] = nn.ReLU,
        quant_narrow: bool = False,
        quant_signed: bool = True,
        power_of_two_scaling: bool = True,
        *,
        accumulator_route: str = DEFAULT_ACCUMULATOR_ROUTE,
        n_accum_bits_output: int | None = None,
        min_hidden_neurons: int = DEFAULT_MIN_HIDDEN_NEURONS,
        mid_rise_inputs: bool | None = None,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.n_layers = n_layers
        self.n_outputs = n_outputs
        self.n_hidden_neurons_multiplier = n_hidden_neurons_multiplier
        self.n_w_bits = n_w_bits
        self.n_a_bits = n_a_bits
        self.n_accum_bits = n_accum_bits
        self.budget_slack_bits = 0
        self.n_prune_neurons_percentage = n_prune_neurons_percentage
        self.activation_function = activation_function
        self.quant_narrow = quant_narrow
        self.quant_signed = quant_signed
        self.power_of_two_scaling = power_of_two_scaling
        self.accumulator_route = accumulator_route
        self.n_accum_bits_output = n_accum_bits_output
        self.min_hidden_neurons = min_hidden_neurons
        self.mid_rise_inputs = mid_rise_inputs
        self._validate_parameters()

        self._neuron_masks: list[torch.Tensor | None] = [None] * n_layers
        self._step_scales: list[torch.Tensor] | None = None  # set by each training forward pass
        self.register_buffer("input_shift", torch.zeros(()))
        self._build_layers()
        self.register_load_state_dict_pre_hook(_adapt_saved_state)
        if self.accumulator_route == "prune" or self.n_prune_neurons_percentage > 0:
            self.enable_pruning()

    # ------------------------------------------------------------------------------------------------
    # construction

    def _validate_parameters(self) -> None:
        for name in (
            "input_dim",
            "n_layers",
            "n_outputs",
            "n_hidden_neurons_multiplier",
            "min_hidden_neurons",
        ):
            value = getattr(self, name)
            if not _is_integer(value) or value <= 0:
                raise _invalid(name, "a positive integer", value)
        for name in ("n_w_bits", "n_a_bits"):
            value = getattr(self, name)
            if not _is_integer(value) or not MIN_QUANT_BITS <= value <= MAX_QUANT_BITS:
                raise _invalid(name, f"an integer between {MIN_QUANT_BITS} and {MAX_QUANT_BITS}", value)
        accum_bits = self.n_accum_bits
        if accum_bits is not None and (not _is_integer(accum_bits) or accum_bits < MIN_QUANT_BITS):
            raise _invalid("n_accum_bits", f"None or an integer >= {MIN_QUANT_BITS}", self.n_accum_bits)
        output_bits = self.n_accum_bits_output
        if output_bits is not None and (not _is_integer(output_bits) or output_bits < MIN_QUANT_BITS):
            raise _invalid("n_accum_bits_output", f"None or an integer >= {MIN_QUANT_BITS}", output_bits)
        pct = self.n_prune_neurons_percentage
        if not isinstance(pct, Real) or isinstance(pct, bool) or not 0 <= pct < 1:
            raise _invalid("n_prune_neurons_percentage", "a number in [0, 1)", pct)
        activation = self.activation_function
        if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
            raise _invalid(
                "activation_function", "a torch.nn.Module subclass such as torch.nn.ReLU", activation
            )
        for name in ("quant_narrow", "quant_signed", "power_of_two_scaling"):
            if not isinstance(getattr(self, name), bool):
                raise _invalid(name, "a bool", getattr(self, name))
        if self.mid_rise_inputs is None:
            self.mid_rise_inputs = default_mid_rise_inputs(self.input_dim)
        elif not isinstance(self.mid_rise_inputs, bool):
            raise _invalid("mid_rise_inputs", "None or a bool", self.mid_rise_inputs)
        if self.accumulator_route not in ACCUMULATOR_ROUTES:
            raise _invalid("accumulator_route", f"one of {ACCUMULATOR_ROUTES}", self.accumulator_route)
        if self.accumulator_route != "prune" and pct > 0:
            # Brevitas' accumulator-aware quantizers divide by each row's L1 norm: an all-zero row gives NaN.
            raise _invalid(
                "n_prune_neurons_percentage",
                f"0 with accumulator_route={self.accumulator_route!r} (use 'prune' to prune neurons)",
                pct,
            )

        minimum = self.min_accumulator_bits()
        if self.n_accum_bits is None:
            self.n_accum_bits = max(default_n_accum_bits(self.input_dim), minimum)
        for name, value in (("n_accum_bits", self.n_accum_bits), ("n_accum_bits_output", output_bits)):
            if value is not None and value < minimum:
                raise ValueError(
                    f"{name} must be at least {minimum} to hold one {self.n_a_bits}-bit input times one "
                    f"{self.n_w_bits}-bit weight (the smallest accumulator with one active input), "
                    f"got {value}"
                )

    @property
    def output_accum_bits(self) -> int:
        """The output layer's accumulator budget: ``n_accum_bits_output``, or ``max(n_accum_bits, 7)``."""
        if self.n_accum_bits_output is not None:
            return self.n_accum_bits_output
        return max(self.n_accum_bits, DEFAULT_MIN_OUTPUT_ACCUM_BITS)

    def accumulator_budgets(self) -> list[int]:
        """Accumulator bit budget of each linear layer: ``n_accum_bits``, then the output layer's."""
        return [self.n_accum_bits] * (self.n_layers - 1) + [self.output_accum_bits]

    @property
    def n_hidden_neurons(self) -> int:
        """Hidden width: ``n_hidden_neurons_multiplier * input_dim``, at least ``min_hidden_neurons``."""
        return max(self.n_hidden_neurons_multiplier * self.input_dim, self.min_hidden_neurons)

    def _layer_input_formats(self) -> list[tuple[bool, bool]]:
        """(signed, narrow) of the quantizer feeding each linear layer, from the constructor arguments."""
        after_activation = self.quant_signed and not issubclass(
            self.activation_function, NON_NEGATIVE_ACTIVATIONS
        )
        hidden = [(after_activation, self.quant_narrow)] * (self.n_layers - 1)
        return [(self.quant_signed, self.quant_narrow), *hidden]

    def min_accumulator_bits(self) -> int:
        """Smallest ``n_accum_bits`` that holds one input at its extreme times one weight at its extreme."""
        max_weight = 2 ** (self.n_w_bits - 1) - 1
        bits = 0
        for signed, narrow in self._layer_input_formats():
            low, high = _integer_range(self.n_a_bits, signed, narrow)
            extreme = max_weight * max(-low, high)
            bits = max(bits, signed_bit_width(-extreme, extreme))
        return bits

    def _build_layers(self) -> None:
        widths = [
            self.input_dim,
            *[self.n_hidden_neurons] * (self.n_layers - 1),
            self.n_outputs,
        ]
        formats = self._layer_input_formats()
        self.input_quant = self._make_quantizer(*formats[0])
        weight_options = {
            "weight_quant": _WEIGHT_QUANTIZERS[self.accumulator_route],
            "weight_bit_width": self.n_w_bits,
        }
        budgets = self.accumulator_budgets()
        self.linears = nn.ModuleList(
            qnn.QuantLinear(
                widths[k],
                widths[k + 1],
                bias=True,
                bias_quant=None,
                **weight_options,
                **({} if self.accumulator_route == "prune" else {"weight_accumulator_bit_width": budgets[k]}),
            )
            for k in range(self.n_layers)
        )
        self.activations = nn.ModuleList(self.activation_function() for _ in range(self.n_layers - 1))
        self.activation_quants = nn.ModuleList(self._make_quantizer(*fmt) for fmt in formats[1:])

    def _make_quantizer(self, signed: bool, narrow: bool) -> qnn.QuantIdentity:
        return qnn.QuantIdentity(
            act_quant=_activation_quantizer(signed, self.power_of_two_scaling),
            bit_width=self.n_a_bits,
            collect_stats_steps=ACTIVATION_STATS_STEPS,
            signed=signed,
            narrow_range=narrow,
            return_quant_tensor=True,
        )

    # ------------------------------------------------------------------------------------------------
    # forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantized forward pass: float in, float out (the last layer has no output quantizer)."""
        if self.training and self.accumulator_route == "prune" and self._pruning_installed():
            self._refresh_masks()
        if self.training:
            self._step_scales = [parameter.detach().clone() for parameter in self.learned_scales()]
        out = self.input_quant(x - self.input_shift)
        if self.training and self.mid_rise_inputs:
            with torch.no_grad():
                self.input_shift.fill_(0.5 * float(out.scale.reshape(-1)[0]))
        for k, linear in enumerate(self.linears):
            out = linear(out)
            if k < self.n_layers - 1:
                out = self.activation_quants[k](self.activations[k](out))
        return out

    def learned_scales(self) -> list[nn.Parameter]:
        """The learned scale parameters of the input and activation quantizers."""
        quantizers = (self.input_quant, *self.activation_quants)
        return [parameter for quantizer in quantizers for parameter in quantizer.parameters()]

    def restore_step_scales(self) -> None:
        """Put back the quantizer scales of the last training step (no-op before any training step).

        With power-of-two scales, a learned log-scale at a rounding boundary flips the scale from one
        step to the next, so the optimizer's last step can leave the model on a scale it was not trained
        with (measured on circles: 58% accuracy on the training rows instead of 95%). Every training
        forward pass records its scales; the mid-rise shift it sets is half of that pass's input scale.
        """
        recorded = getattr(self, "_step_scales", None)  # absent from modules pickled before it existed
        if recorded is None:
            return
        with torch.no_grad():
            for parameter, value in zip(self.learned_scales(), recorded, strict=True):
                parameter.copy_(value)

    # ------------------------------------------------------------------------------------------------
    # accumulators

    def _layer_inputs(self) -> list[tuple[qnn.QuantIdentity, qnn.QuantLinear]]:
        return list(zip([self.input_quant, *self.activation_quants], self.linears, strict=True))

    @staticmethod
    def _quantized_input(quantizer: qnn.QuantIdentity, n_features: int) -> IntQuantTensor:
        """A zero QuantTensor carrying ``quantizer``'s scale, zero point, bit-width and sign.

        The quantizer runs in eval mode: a training-mode call would count as a statistics-collection step.
        """
        was_training = quantizer.training
        quantizer.eval()
        try:
            with torch.no_grad():
                return quantizer(torch.zeros(1, n_features))
        finally:
            quantizer.train(was_training)

    @staticmethod
    def _input_integer_range(quantizer: qnn.QuantIdentity, sample: IntQuantTensor) -> tuple[int, int]:
        """Integer range of ``quantizer`` minus its zero point."""
        narrow = bool(quantizer.act_quant.is_narrow_range)
        low, high = _integer_range(int(sample.bit_width), bool(sample.signed), narrow)
        zero_point = sample.zero_point
        if zero_point.numel() != 1 or float(zero_point) != round(float(zero_point)):
            raise AccumulatorOverflowError(f"expected a per-tensor integer zero point, got {zero_point}")
        return low - int(zero_point), high - int(zero_point)

    @staticmethod
    def _integer_weight(linear: qnn.QuantLinear, sample: IntQuantTensor, weight=None) -> np.ndarray:
        """Integer weights of ``linear`` minus their zero point; ``weight`` defaults to the layer's own.

        ``sample`` is the quantized input: the accumulator-aware quantizers read its bit-width and sign.
        """
        with torch.no_grad():
            if weight is None:
                quant_weight = linear.quant_weight(sample)
            elif linear.weight_quant.requires_quant_input:
                quant_weight = linear.weight_quant(weight, sample)
            else:
                quant_weight = linear.weight_quant(weight)
            integers = torch.round(quant_weight.value / quant_weight.scale) - quant_weight.zero_point
        if not torch.isfinite(integers).all():
            raise AccumulatorOverflowError(f"layer {linear} has non-finite quantized weights")
        return integers.cpu().numpy().astype(np.int64)

    def accumulator_bit_widths(self) -> list[int]:
        """Worst-case signed accumulator bit-width of each linear layer, from its integer weights (eval mode).

        For output neuron ``j`` with integer weights ``w_ij`` and an input quantizer whose integer range minus
        zero point is ``[x_min, x_max]``: ``lo_j = sum_i min(w_ij * x_min, w_ij * x_max)``, ``hi_j`` likewise
        with ``max``, and the width is the smallest ``b`` with ``-2**(b-1) <= lo_j`` and ``hi_j < 2**(b-1)``.
        """
        was_training = self.training
        self.eval()
        try:
            widths = []
            for quantizer, linear in self._layer_inputs():
                sample = self._quantized_input(quantizer, linear.in_features)
                low, high = self._input_integer_range(quantizer, sample)
                widths.append(accumulator_bit_width(self._integer_weight(linear, sample), low, high))
        finally:
            self.train(was_training)
        return widths

    def check_accumulators(self) -> None:
        """Raise ``AccumulatorOverflowError`` if a layer's worst-case accumulator exceeds its budget."""
        widths = self.accumulator_bit_widths()
        budgets = self.accumulator_budgets()
        if any(width > budget for width, budget in zip(widths, budgets, strict=True)):
            raise AccumulatorOverflowError(
                f"accumulator bit-widths per layer {widths} exceed their budgets {budgets} "
                f"(n_accum_bits={self.n_accum_bits}, output layer {self.output_accum_bits})"
            )

    def max_active_neurons(self) -> int:
        """Largest number of inputs per neuron that fits every layer's budget whatever the weight values.

        With the ``"prune"`` route, neurons keep more inputs than this when their weights are not all extreme.
        """
        max_weight = 2 ** (self.n_w_bits - 1) - 1
        counts = []
        for (quantizer, linear), budget in zip(self._layer_inputs(), self.accumulator_budgets(), strict=True):
            sample = self._quantized_input(quantizer, linear.in_features)
            low, high = self._input_integer_range(quantizer, sample)
            counts.append(max_fitting_inputs(max_weight, low, high, budget))
        return min(counts)

    # ------------------------------------------------------------------------------------------------
    # pruning

    def _pruned_layer_indices(self) -> list[int]:
        if self.accumulator_route == "prune":
            return list(range(self.n_layers))
        return list(range(self.n_layers - 1)) if self.n_prune_neurons_percentage > 0 else []

    def _pruning_installed(self) -> bool:
        return any(prune.is_pruned(linear) for linear in self.linears)

    def enable_pruning(self) -> None:
        """Install pruning masks and compute them from the current weights.

        Masks cover whole hidden neurons (``n_prune_neurons_percentage``, smallest L2 norms) and, with the
        ``"prune"`` route, each neuron's accumulator budget. ``make_pruning_permanent`` bakes them in.
        """
        for k in range(self.n_layers - 1):
            self._neuron_masks[k] = self._neuron_mask(self.linears[k])
        for k in self._pruned_layer_indices():
            linear = self.linears[k]
            if not prune.is_pruned(linear):
                prune.custom_from_mask(linear, "weight", torch.ones_like(linear.weight))
        self._refresh_masks()

    def _neuron_mask(self, linear: qnn.QuantLinear) -> torch.Tensor | None:
        """Keep all but the ``n_prune_neurons_percentage`` output neurons with the smallest L2 weight norm."""
        n_pruned = int(self.n_prune_neurons_percentage * linear.out_features)
        if n_pruned == 0:
            return None
        with torch.no_grad():
            norms = linear.weight.detach().norm(p=2, dim=1)
            keep = torch.ones(linear.out_features, dtype=torch.bool)
            keep[torch.argsort(norms, stable=True)[:n_pruned]] = False
        return keep

    def _refresh_masks(self) -> None:
        """Recompute each pruned layer's mask from its current unpruned weights."""
        budgets = self.accumulator_budgets()
        for k in self._pruned_layer_indices():
            quantizer, linear = self._layer_inputs()[k]
            if not prune.is_pruned(linear):
                continue
            weight = linear.weight_orig.detach()
            mask = torch.ones_like(weight, dtype=torch.bool)
            if self._neuron_masks[k] is not None:
                mask &= self._neuron_masks[k][:, None]
            if self.accumulator_route == "prune":
                sample = self._quantized_input(quantizer, linear.in_features)
                low, high = self._input_integer_range(quantizer, sample)
                integers = self._integer_weight(linear, sample, weight) * mask.cpu().numpy()
                priority = (weight.abs() * mask).cpu().numpy()
                fits = fitting_mask(integers, priority, low, high, budgets[k] + self.budget_slack_bits)
                mask &= torch.from_numpy(fits).to(mask.device)
            linear.weight_mask.copy_(mask.to(linear.weight_mask.dtype))
            # torch's pruning hook recomputes ``weight`` only before the next forward; do it now so that
            # ``quant_weight()`` and the accumulator check see the new mask.
            linear.weight = linear.weight_orig * linear.weight_mask

    def make_pruning_permanent(self) -> None:
        """Bake the masks into the weights and remove the pruning reparametrization.

        With the ``"prune"`` route the accumulator masks are first recomputed from the final weights, so the
        bound holds for whatever weights the last optimizer step produced.
        """
        self.budget_slack_bits = 0
        if self.accumulator_route == "prune" and not self._pruning_installed():
            self.enable_pruning()
        self._refresh_masks()
        for linear in self.linears:
            if prune.is_pruned(linear):
                prune.remove(linear, "weight")
        self._neuron_masks = [None] * self.n_layers

    def on_train_end(self) -> None:
        """Finalize after training: last step's quantizer scales, permanent pruning, checked accumulators.

        Warns (``sklearn.exceptions.ConvergenceWarning``) when training was too short for the input and
        activation quantizers to learn their scales (see :meth:`statistics_steps_left`).
        """
        self.restore_step_scales()
        self.make_pruning_permanent()
        self.check_accumulators()
        steps_left = self.statistics_steps_left()
        if steps_left:
            warnings.warn(
                f"the input and activation quantizers collect statistics over their first "
                f"{ACTIVATION_STATS_STEPS} training steps and learn their scales after; training stopped "
                f"{steps_left} steps short of that, so the model keeps statistics-based scales it was not "
                "trained with, which costs accuracy (breast-cancer after 10 epochs of 27 steps: 83%, against "
                "95% after 50). Train for more steps: raise max_epochs or lower batch_size",
                ConvergenceWarning,
                stacklevel=2,
            )

    def statistics_steps_left(self) -> int:
        """Training steps still needed before every input and activation quantizer learns its scale.

        Brevitas' quantizers spend their first ``collect_stats_steps`` training steps (300) collecting
        running statistics; the next step turns them into the learned scale parameters. 0 once that is done,
        also for a module that loaded trained scales.
        """
        counters = [
            (module.collect_stats_steps, module.counter)
            for quantizer in (self.input_quant, *self.activation_quants)
            for module in quantizer.modules()
            if isinstance(module, ParameterFromRuntimeStatsScaling)
        ]
        return max((steps + 1 - counter for steps, counter in counters), default=0)
