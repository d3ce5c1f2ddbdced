"""The torch module behind Veil's built-in networks: a quantization-aware MLP with bounded accumulators.

``SparseQuantNeuralNetwork`` is a stack of Brevitas layers::

    (x - input_offset) / input_scale                    per-feature normalization, run by the client
    [z, |z| normalized again] if folded_inputs          the folded features, also on the client
    QuantIdentity(n_a_bits)                             input quantizer, returns a QuantTensor
    [QuantLinear(n_w_bits, float bias) -> activation -> QuantIdentity(n_a_bits)] * (n_layers - 1)
    QuantLinear(n_w_bits, float bias)                   float output, no output quantizer

Once training ends, every hidden layer's worst-case integer accumulator (over every input its input
quantizer can represent, computed from the integer weights) fits its budget; ``on_train_end`` checks the
exact bound and raises ``AccumulatorOverflowError`` if it does not. How training gets there is the
accumulator route (``veil.qat._routes``).
"""

from __future__ import annotations

import brevitas.nn as qnn
import torch
from torch import nn

from veil.errors import AccumulatorOverflowError
from veil.quantization._bounds import max_fitting_inputs, signed_bit_width

from ._client_inputs import FoldedInputs, as_row, normalization_rows
from ._defaults import (
    DEFAULT_ACCUMULATOR_ROUTE,
    DEFAULT_MIN_HIDDEN_NEURONS,
    DEFAULT_MIN_OUTPUT_ACCUM_BITS,
    DEFAULT_N_A_BITS,
    DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
    DEFAULT_N_W_BITS,
    default_mid_rise_inputs,
    default_n_accum_bits,
    hidden_width,
)
from ._layer_integers import accumulator_bit_widths, integer_range
from ._output_sums import OutputGroups, add_partial_sums
from ._params import check_accumulator_budgets, check_network_params
from ._pruning import adapt_pruned_state, install_masks, pruning_installed, refresh_masks, remove_masks
from ._quantizers import (
    NON_NEGATIVE_ACTIVATIONS,
    make_quantizer,
    statistics_steps_left,
    warn_if_scales_unlearned,
)
from ._rounding import rounding_error
from ._routes import ACCUMULATOR_ROUTES

__all__ = ["SparseQuantNeuralNetwork"]


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
        n_accum_bits: bits of each hidden layer's signed integer accumulator, worst case over all inputs:
            what the table lookups read, so their precision. ``None`` (default): 4 bits up to 32 input
            features, 5 above, and at least what one input times one weight needs (``hidden_accum_bits``).
        n_prune_neurons_percentage: fraction in [0, 1) of each hidden layer's neurons to prune, those with the
            smallest L2 weight norm when pruning is enabled.
        activation_function: a ``torch.nn.Module`` subclass, instantiated once per hidden layer.
        quant_narrow: narrow-range input and activation quantizers ([-3, 3] instead of [-4, 3] at 3 bits);
            weights are always symmetric narrow-range with a zero point of 0.
        quant_signed: signed input quantizer and signed quantizers after activations that can be negative.
        power_of_two_scaling: power-of-two scales for the input and activation quantizers.
        accumulator_route: how training keeps the bound: ``"prune"`` (default), or the experimental
            ``"a2q"`` / ``"a2q_plus"`` (see ``veil.qat._routes``).
        n_accum_bits_output: bits of the output layer's accumulator, which is decrypted without a lookup.
            ``None`` (default): ``max(hidden_accum_bits, 7)``.
        min_hidden_neurons: the fewest neurons a hidden layer has, however few the input features (None: 32).
        max_hidden_neurons: the most neurons a hidden layer has, however many the input features (wins
            over ``min_hidden_neurons``); None (default): no cap.
        mid_rise_inputs: shift the inputs by half a quantizer step, so the levels sit symmetric around zero
            (the ``input_shift`` buffer: followed while training, then a constant the client subtracts).
            ``None`` (default): up to 32 features.
        output_partial_sums: every output reads every neuron of the last hidden layer, as partial sums
            within ``n_accum_bits_output`` that the client adds (``veil.qat._output_sums``).
        input_range: inputs clipped to about ±``input_range`` (normalized units), scale not learned;
            None (default): the input scale is learned.
        folded_inputs: the first layer also reads each normalized feature's distance from its centre
            (``veil.qat._client_inputs``): twice the encrypted inputs, the same lookups. None: as False.

    The per-feature ``input_offset`` / ``input_scale`` buffers (:meth:`set_input_normalization`) put every
    feature on one scale before the input quantizer, and ``output_scale`` / ``output_offset``
    (:meth:`set_output_scaling`) map the outputs to the targets' units: both run on the client, in clear.

    While training, the prune route's masks use every budget plus ``budget_slack_bits`` (0 unless set), so
    that a schedule can start dense and tighten. ``make_pruning_permanent`` resets it to 0 first.

    Raises:
        ValueError: a parameter is out of range, or ``n_accum_bits`` cannot hold even one input times one
            weight.

    Example:
        >>> net = SparseQuantNeuralNetwork(input_dim=4, n_layers=2, n_outputs=3)
        >>> net(torch.randn(8, 4)).shape
        torch.Size([8, 3])
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
        min_hidden_neurons: int | None = DEFAULT_MIN_HIDDEN_NEURONS,
        max_hidden_neurons: int | None = None,
        mid_rise_inputs: bool | None = None,
        output_partial_sums: bool = True,
        input_range: float | None = None,
        folded_inputs: bool = False,
    ) -> None:
        super().__init__()
        params = {name: value for name, value in locals().items() if name not in ("self", "__class__")}
        check_network_params(params, caller_name=type(self).__name__)
        vars(self).update(params)
        self.route = ACCUMULATOR_ROUTES[self.accumulator_route]
        check_accumulator_budgets(params, self.min_accumulator_bits())
        self.budget_slack_bits = 0
        self.rounding_kept_bits: int | None = None  # set_accumulator_rounding
        self._neuron_masks: list[torch.Tensor | None] = [None] * n_layers
        self._step_scales: list[torch.Tensor] | None = None  # set by each training forward pass
        self.register_buffer("input_offset", torch.zeros(input_dim))
        self.register_buffer("input_scale", torch.ones(input_dim))
        self.register_buffer("input_shift", torch.zeros(()))
        self.fold = FoldedInputs(input_dim) if folded_inputs else None
        self.register_buffer("output_offset", torch.zeros(n_outputs))
        self.register_buffer("output_scale", torch.ones(n_outputs))
        self._build_layers()
        self.register_load_state_dict_pre_hook(adapt_pruned_state)
        if self.route.masks_follow_weights or self.n_prune_neurons_percentage > 0:
            self.enable_pruning()

    # resolved parameters

    @property
    def hidden_accum_bits(self) -> int:
        """The hidden layers' accumulator budget: ``n_accum_bits``, or the default for ``input_dim``."""
        if self.n_accum_bits is not None:
            return self.n_accum_bits
        return max(default_n_accum_bits(self.input_dim), self.min_accumulator_bits())

    @property
    def output_accum_bits(self) -> int:
        """The output layer's budget: ``n_accum_bits_output``, or ``max(hidden_accum_bits, 7)``."""
        if self.n_accum_bits_output is not None:
            return self.n_accum_bits_output
        return max(self.hidden_accum_bits, DEFAULT_MIN_OUTPUT_ACCUM_BITS)

    @property
    def uses_mid_rise_inputs(self) -> bool:
        """Whether the input grid is mid-rise: ``mid_rise_inputs``, or the default for ``input_dim``."""
        if self.mid_rise_inputs is None:
            return default_mid_rise_inputs(self.input_dim)
        return self.mid_rise_inputs

    @property
    def n_hidden_neurons(self) -> int:
        """Hidden width (:func:`~veil.qat._defaults.hidden_width`)."""
        args = (self.n_hidden_neurons_multiplier, self.min_hidden_neurons, self.max_hidden_neurons)
        return hidden_width(self.input_dim, *args)

    @property
    def n_encoded_inputs(self) -> int:
        """Inputs the first layer reads: ``input_dim``, twice that with ``folded_inputs``."""
        return 2 * self.input_dim if self.folded_inputs else self.input_dim

    @property
    def output_groups(self) -> OutputGroups:
        """How the output layer's inputs are cut into partial sums (one group unless partial sums)."""
        n_inputs = self.n_hidden_neurons if self.n_layers > 1 else self.n_encoded_inputs
        split = self.output_partial_sums and self.route.masks_follow_weights
        return OutputGroups(n_inputs, self.n_outputs, self.fitting_inputs()[-1] if split else n_inputs)

    def fixed_weight_mask(self, layer: int) -> torch.Tensor | None:
        """Weights of ``layer`` that stay zero whatever training does (the partial sums' groups)."""
        return self._output_mask if layer == self.n_layers - 1 else None

    def accumulator_budgets(self) -> list[int]:
        """Accumulator bit budget of each linear layer: the hidden layers', then the output layer's."""
        return [self.hidden_accum_bits] * (self.n_layers - 1) + [self.output_accum_bits]

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
            low, high = integer_range(self.n_a_bits, signed, narrow)
            extreme = max_weight * max(-low, high)
            bits = max(bits, signed_bit_width(-extreme, extreme))
        return bits

    # construction

    def _build_layers(self) -> None:
        formats = self._layer_input_formats()
        # The quantizers' zero points are 0, so each layer's integer input range is known from its format.
        self._input_ranges = [integer_range(self.n_a_bits, *fmt) for fmt in formats]
        groups = self.output_groups
        self._output_mask = groups.weight_mask()  # fixed for the module's life: read at every training step
        hidden = [self.n_hidden_neurons] * (self.n_layers - 1)
        widths = [self.n_encoded_inputs, *hidden, groups.n_partial_sums]
        budgets = self.accumulator_budgets()
        pot = self.power_of_two_scaling
        self.input_quant = make_quantizer(self.n_a_bits, *formats[0], pot, fixed_range=self.input_range)
        self.linears = nn.ModuleList(
            qnn.QuantLinear(
                widths[k],
                widths[k + 1],
                bias=True,
                bias_quant=None,
                weight_quant=self.route.weight_quant,
                weight_bit_width=self.n_w_bits,
                **self.route.linear_options(budgets[k]),
            )
            for k in range(self.n_layers)
        )
        self.activations = nn.ModuleList(self.activation_function() for _ in range(self.n_layers - 1))
        self.activation_quants = nn.ModuleList(
            make_quantizer(self.n_a_bits, *fmt, self.power_of_two_scaling) for fmt in formats[1:]
        )

    def set_input_normalization(self, offset, scale, fold_offset=None, fold_scale=None) -> None:
        """Set the per-feature ``(x - offset) / scale`` applied before the input quantizer (``scale``
        positive and finite): raw features of any magnitude then share one input grid. ``fold_offset``
        and ``fold_scale`` normalize the folded features, if any (None: left as they are)."""
        offset, scale = normalization_rows(offset, scale, self.input_dim, "input normalization")
        if self.fold is not None and fold_offset is not None:
            self.fold.set_statistics(fold_offset, fold_scale)
        with torch.no_grad():
            self.input_offset.copy_(offset)
            self.input_scale.copy_(scale)

    def set_output_scaling(self, offset, scale) -> None:
        """Set the per-output ``out * scale + offset`` after the last layer (the client applies it): a
        regressor's target mean and standard deviation, so that it predicts in the targets' units."""
        with torch.no_grad():
            self.output_offset.copy_(as_row(offset, self.n_outputs))
            self.output_scale.copy_(as_row(scale, self.n_outputs))

    # forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantized forward pass: float in, float out (the last layer has no output quantizer)."""
        if self.training and self.route.masks_follow_weights and pruning_installed(self):
            refresh_masks(self)
        if self.training:
            self._step_scales = [parameter.detach().clone() for parameter in self.learned_scales()]
        x = (x - self.input_offset) / self.input_scale
        out = self.input_quant((x if self.fold is None else self.fold(x)) - self.input_shift)
        if self.training and self.uses_mid_rise_inputs:
            with torch.no_grad():
                self.input_shift.fill_(0.5 * float(out.scale.reshape(-1)[0]))
        # Rounding once the budgets are final, as the integer model will; an exported graph leaves it out
        # (the integer model rounds by itself).
        rounds = self.rounding_kept_bits is not None and self.budget_slack_bits == 0
        rounds = rounds and not torch.onnx.is_in_onnx_export()
        for k, linear in enumerate(self.linears):
            layer_input, out = out, linear(out)
            if k < self.n_layers - 1:
                if rounds:
                    kept = self.rounding_kept_bits
                    error = rounding_error(linear, layer_input, self._input_ranges[k], kept)
                    out = out if error is None else out + error  # straight through: no gradient of its own
                out = self.activation_quants[k](self.activations[k](out))
        out = add_partial_sums(out, self.n_outputs)
        return out * self.output_scale + self.output_offset

    def set_accumulator_rounding(self, kept_bits: int | None) -> None:
        """Round hidden accumulators to their ``kept_bits`` top bits as the integer model will, once the
        budgets are final (None: no rounding; ``veil.qat._rounding``)."""
        self.rounding_kept_bits = kept_bits

    def train(self, mode: bool = True) -> SparseQuantNeuralNetwork:
        """Set training mode. skorch asks before every step, when every submodule is in it already:
        reading the modes of ~300 Brevitas submodules (3 hidden layers) costs 0.2 ms, setting them 1 ms."""
        stack = [self]
        while stack:
            module = stack.pop()
            if module.training != mode:
                return super().train(mode)
            stack.extend(child for child in module._modules.values() if child is not None)
        return self

    def learned_scales(self) -> list[nn.Parameter]:
        """The learned scale parameters of the input and activation quantizers."""
        quantizers = (self.input_quant, *self.activation_quants)
        return [parameter for quantizer in quantizers for parameter in quantizer.parameters()]

    def restore_step_scales(self) -> None:
        """Put back the quantizer scales of the last training step (no-op before any training step).

        With power-of-two scales, a learned log-scale at a rounding boundary flips the scale from one step
        to the next, so the optimizer's last step can leave the model on a scale it was not trained with.
        """
        if self._step_scales is None:
            return
        with torch.no_grad():
            for parameter, value in zip(self.learned_scales(), self._step_scales, strict=True):
                parameter.copy_(value)

    # accumulators

    def _layer_inputs(self) -> list[tuple[qnn.QuantIdentity, qnn.QuantLinear]]:
        return list(zip([self.input_quant, *self.activation_quants], self.linears, strict=True))

    def accumulator_bit_widths(self) -> list[int]:
        """Worst-case signed accumulator bit-width of each linear layer, from its integer weights (eval mode;
        ``veil.qat._layer_integers.accumulator_bit_widths``)."""
        was_training = self.training
        self.eval()
        try:
            return accumulator_bit_widths(self._layer_inputs())
        finally:
            self.train(was_training)

    def check_accumulators(self) -> None:
        """Raise ``AccumulatorOverflowError`` if a layer's worst-case accumulator exceeds its budget."""
        widths = self.accumulator_bit_widths()
        budgets = self.accumulator_budgets()
        if any(width > budget for width, budget in zip(widths, budgets, strict=True)):
            raise AccumulatorOverflowError(
                f"accumulator bit-widths per layer {widths} exceed their budgets {budgets} "
                f"(n_accum_bits={self.n_accum_bits}, output layer {self.output_accum_bits})"
            )

    def fitting_inputs(self) -> list[int]:
        """Per layer, how many inputs a neuron may read whatever its weights, within its budget."""
        ranges, budgets, top = self._input_ranges, self.accumulator_budgets(), 2 ** (self.n_w_bits - 1) - 1
        return [max_fitting_inputs(top, *r, b) for r, b in zip(ranges, budgets, strict=True)]

    def max_active_neurons(self) -> int:
        """Largest number of inputs per neuron that fits every layer's budget whatever the weight values.

        With the prune route, neurons keep more inputs than this when their weights are not all extreme.
        """
        return min(self.fitting_inputs())

    # pruning (the masks themselves: veil.qat._pruning)

    def enable_pruning(self) -> None:
        """Install pruning masks and compute them from the current weights: whole hidden neurons
        (``n_prune_neurons_percentage``, smallest L2 norms) and, with the prune route, each neuron's
        accumulator budget. ``make_pruning_permanent`` bakes them in."""
        install_masks(self)

    def make_pruning_permanent(self) -> None:
        """Bake the masks into the weights and remove the pruning reparametrization.

        With the prune route the masks are first recomputed from the final weights, so the bound holds for
        whatever weights the last optimizer step produced.
        """
        self.budget_slack_bits = 0
        if self.route.masks_follow_weights and not pruning_installed(self):
            install_masks(self)
        refresh_masks(self)
        remove_masks(self)

    def on_train_end(self) -> None:
        """Finalize after training: last step's quantizer scales, permanent pruning, checked accumulators.

        Warns (``ConvergenceWarning``) if training ended before the quantizers learned their scales.
        """
        self.restore_step_scales()
        self.make_pruning_permanent()
        self.check_accumulators()
        warn_if_scales_unlearned([self.input_quant, *self.activation_quants])

    def statistics_steps_left(self) -> int:
        """Training steps still needed before every input and activation quantizer learns its scale (0
        once that is done, also for a module that loaded trained scales)."""
        return statistics_steps_left([self.input_quant, *self.activation_quants])
