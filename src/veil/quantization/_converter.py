"""ONNX float graph → integer graph: where to quantize, and with which quantizers.

The converter walks the float graph once, in order, keeping a symbolic value per tensor:

- :class:`Constant` — known at conversion time (initializers, folded subgraphs); weights produced by a
  ``DequantizeLinear`` keep their integer codes (QAT models carry their own weight quantization).
- :class:`Pending` — a chain of elementwise float steps applied to an encrypted integer tensor (or to
  the model's float input). The chain becomes one table lookup when an integer is needed again: at a
  linear layer, or at a QAT quantizer (``QuantizeLinear → Clip → DequantizeLinear``). Whatever is still
  pending at the graph output is applied in clear by the client after decryption.

Post-training quantization calibrates the quantizers it inserts on the float values of the calibration
data; the QAT importer takes the network's own quantizers and calibrates only where there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputValidationError, QuantizationError, UnsupportedOpError
from ..onnx import NumpyModule
from ..onnx._numpy_module import evaluate_node
from ._bits import RoundingPolicy, get_n_bits_dict, parse_rounding_threshold_bits
from ._graph_builder import GraphBuilder
from ._idle_neurons import drop_idle_neurons
from ._inputs import JOINED_INPUT, InputEncoder, ModelInput, calibration_array, client_encoder, register_input
from ._integer_graph import IntegerGraph
from ._layers import (
    bias_row,
    channel_broadcast,
    dense_map,
    imported_codes_per_channel,
    integer_columns,
    joint_dense_map,
    linear_function,
    pooled_scale_and_bias,
    quantize_per_channel,
    uniform_or_array,
    weight_layout,
)
from ._module import OutputDecoder, QuantizedModule
from ._pooling import add_max_pool, window_selections
from ._qdq import dequantized_weight_codes, qdq_length, quantizer_of_qdq, transpose_codes
from ._quantizers import UniformQuantizer
from ._steps import LINEAR_OPS, LINEAR_SUFFIX_OPS, CombineStep, FloatStep


@dataclass
class Constant:
    value: np.ndarray
    codes: tuple[np.ndarray, UniformQuantizer] | None = None  # (integer codes, their quantizer)


@dataclass
class Pending:
    source: str | ModelInput
    steps: list[FloatStep] = field(default_factory=list)


class ONNXConverter:
    """Convert a :class:`~veil.onnx.NumpyModule` into a :class:`QuantizedModule`.

    Parameters
    ----------
    n_bits : int or dict
        Bit-widths by role, see :func:`get_n_bits_dict`.
    numpy_model : NumpyModule
        The float model.
    rounding_threshold_bits : None, int or dict
        Round every accumulator to this many most significant bits before its table lookup:
        ``None``, an int, or ``{"n_bits": int | "auto", "method": "exact" | "approximate"}``.
    is_signed : bool
        Quantize weights with signed symmetric codes (default) rather than unsigned codes with a zero point.
    """

    #: Whether quantizers found in the graph (QDQ nodes) are used as they are.
    import_graph_quantizers = False

    def __init__(
        self, n_bits, numpy_model: NumpyModule, rounding_threshold_bits=None, is_signed: bool = True
    ):
        self.n_bits = get_n_bits_dict(n_bits)
        if is_signed and self.n_bits["op_weights"] < 2:
            name = "n_bits['op_weights']" if isinstance(n_bits, dict) else "n_bits"
            raise QuantizationError(
                f"{name} must be at least 2 for signed weights (a symmetric 1-bit code holds only 0), got "
                f"{self.n_bits['op_weights']}"
            )
        self.numpy_model = numpy_model
        self.rounding: RoundingPolicy | None = parse_rounding_threshold_bits(rounding_threshold_bits)
        self.is_signed = is_signed

    @property
    def n_bits_model_inputs(self) -> int:
        return self.n_bits["model_inputs"]

    @property
    def n_bits_model_outputs(self) -> int:
        return self.n_bits["model_outputs"]

    @property
    def n_bits_op_inputs(self) -> int:
        return self.n_bits["op_inputs"]

    @property
    def n_bits_op_weights(self) -> int:
        return self.n_bits["op_weights"]

    # ----------------------------------------------------------------------------------------------
    def quantize_module(self, *calibration_data: np.ndarray) -> QuantizedModule:
        """Quantize the numpy model, calibrating inserted quantizers on ``calibration_data``.

        Returns
        -------
        QuantizedModule
            The integer model, not compiled yet.
        """
        model = self.numpy_model
        if len(model.output_names) != 1:
            raise UnsupportedOpError(
                f"Veil quantizes graphs with one output, got outputs {model.output_names}"
            )
        if len(calibration_data) != len(model.input_names):
            raise InputValidationError(
                f"expected {len(model.input_names)} calibration array(s), one per graph input "
                f"{model.input_names}, got {len(calibration_data)}"
            )
        arrays = [calibration_array(data) for data in calibration_data]

        self._builder = GraphBuilder(self.rounding, self.n_bits_op_inputs)
        self._tensors = self._builder.tensors
        self._float_values: dict[str, np.ndarray] = {}  # calibration values of integer tensors
        self._materialized: dict[tuple, str] = {}
        self._encoders: dict[int, InputEncoder] = {}
        self._row_shapes = [tuple(data.shape[1:]) for data in arrays]
        state: dict[str, Constant | Pending] = {
            name: Pending(ModelInput(i)) for i, name in enumerate(model.input_names)
        }
        state.update({name: Constant(value) for name, value in model.initializers.items()})
        calibration: dict[str, np.ndarray] = dict(zip(model.input_names, arrays, strict=True))
        calibration.update(model.initializers)
        self._calibration = calibration

        for node in model.nodes:
            inputs = [state[name] if name else None for name in node.inputs]
            values = [calibration[name] if name else None for name in node.inputs]
            output_value = evaluate_node(node, values)
            calibration[node.outputs[0]] = output_value
            state[node.outputs[0]] = self._convert_node(node, inputs, values, output_value)

        (output_name,) = model.output_names
        output = state[output_name]
        if not isinstance(output, Pending) or isinstance(output.source, ModelInput):
            raise UnsupportedOpError(
                "the model's output does not depend on any linear layer of its input; there is nothing "
                "to compute under encryption"
            )
        input_encoder = client_encoder(self._builder, self._encoders, model.input_names)
        output = self._maybe_requantize_output(output, calibration[output_name])
        graph = drop_idle_neurons(
            IntegerGraph(
                input=input_encoder.name,
                output=output.source,
                nodes=self._builder.nodes,
                tensors=self._tensors,
            )
        )
        decoder = OutputDecoder(self._tensors[output.source], tuple(output.steps))
        return QuantizedModule(
            graph=graph,
            input_encoder=input_encoder,
            output_decoder=decoder,
            n_bits=dict(self.n_bits),
            rounding=self.rounding,
            onnx_model=model.onnx_model,
        )

    # ----------------------------------------------------------------------------------------------
    def _convert_node(self, node, inputs, values, output_value):
        variable = [i for i, item in enumerate(inputs) if isinstance(item, Pending)]
        if not variable:
            return self._fold_constant(node, inputs, output_value)
        if node.op_type in LINEAR_OPS and variable == [0]:
            return self._linear(node, inputs)
        if node.op_type == "MaxPool":
            return self._max_pool(node, inputs[0])
        if len(variable) > 1:
            return self._combine(node, inputs, variable)
        if node.op_type in LINEAR_OPS:
            raise UnsupportedOpError(
                f"ONNX op {node.op_type!r} (node {node.name!r}) must take the encrypted tensor as its first "
                "input and constant weights as its second (transA=0)"
            )
        (slot,) = variable
        pending = inputs[slot]
        constants = tuple(
            None if i == slot else item.value if item else None for i, item in enumerate(inputs)
        )
        step = FloatStep(node, slot, constants)
        extended = Pending(pending.source, [*pending.steps, step])
        if node.op_type == "DequantizeLinear" and self.import_graph_quantizers:
            quantizer = quantizer_of_qdq(extended.steps)
            if quantizer is not None:
                chain = extended.steps[: -qdq_length(extended.steps)]
                return Pending(self._materialize(Pending(pending.source, chain), quantizer, node.name))
        return extended

    def _combine(self, node, inputs, variable) -> Pending:
        """An op on several tensors that all derive from one encrypted tensor stays univariate."""
        sources = {inputs[slot].source for slot in variable}
        if len(sources) > 1:
            return self._join(node, inputs, variable)
        branches = {slot: tuple(inputs[slot].steps) for slot in variable}
        constants = tuple(
            None if i in branches or item is None else item.value for i, item in enumerate(inputs)
        )
        return Pending(sources.pop(), [CombineStep(node, branches, constants)])

    def _join(self, node, inputs, variable) -> Pending:
        """Add, subtract or concatenate different encrypted tensors: one linear node on one shared scale."""
        where = f"ONNX op {node.op_type!r} (node {node.name!r})"
        operands = [inputs[slot] for slot in variable]
        if len(variable) != sum(item is not None for item in inputs):
            raise UnsupportedOpError(
                f"{where} mixes encrypted tensors and constants; add the constants apart"
            )
        if any(isinstance(operand.source, ModelInput) for operand in operands):
            raise UnsupportedOpError(f"{where} combines the model input itself with a computed tensor")
        if node.op_type == "Mul" and len(operands) == 2:
            a, b = (self._integer_input(operand, where) for operand in operands)
            name = self._builder.add_product(a, b, f"{node.outputs[0]}:product")
            self._float_values[name] = self._calibration[node.outputs[0]]
            return Pending(name)
        names = [operand.source for operand in operands]
        scales = {float(np.asarray(self._tensors[name].scale).reshape(-1)[0]) for name in names}
        plain = all(not operand.steps and self._builder.is_codes(operand.source) for operand in operands)
        if not (plain and len(scales) == 1):
            # Bring every operand to one scale: each becomes codes of one shared quantizer (a lookup).
            values = np.concatenate([self._float_value(operand).reshape(-1) for operand in operands])
            quantizer = UniformQuantizer.calibrate(values, self.n_bits_op_inputs, is_signed=False)
            names = [self._builder.add_lookup(o.source, o.steps, quantizer, where) for o in operands]
        infos = [self._tensors[name] for name in names]
        matrix, out_shape = joint_dense_map(
            lambda *arrays: evaluate_node(node, list(arrays)), [info.row_shape for info in infos], where
        )
        name = self._builder.add_linear(
            names, np.rint(matrix), out_shape, infos[0].scale, 0.0, f"{node.outputs[0]}:accumulator"
        )
        self._float_values[name] = self._calibration[node.outputs[0]]
        return Pending(name)

    def _fold_constant(self, node, inputs, output_value) -> Constant:
        codes = None
        if node.op_type == "DequantizeLinear":
            codes = dequantized_weight_codes(node, [item.value if item else None for item in inputs])
        elif node.op_type == "Transpose" and inputs[0].codes is not None:
            codes = transpose_codes(inputs[0].codes, node.attributes.get("perm"))
        return Constant(np.asarray(output_value), codes)

    def _linear(self, node, inputs, keep_accumulator: bool = True) -> Pending:
        """A linear op on an encrypted tensor: one integer matrix over its flattened rows (``_layers``)."""
        where = f"{node.op_type} node {node.name!r}"
        if node.attributes.get("transA", 0):
            raise UnsupportedOpError(f"Gemm node {node.name!r} with transA=1 is not supported")
        layout = weight_layout(node.op_type, node.attributes)
        # A pooling reads an accumulator as it is (no lookup) when each window shares one scale.
        x_name, suffix = self._linear_input(inputs[0], where, keep_accumulator and layout is None)
        x_info = self._tensors[x_name]
        codes, channel_scale, bias = None, 1.0, 0.0
        if layout is not None:
            slot, weight_axis, _ = layout
            if not isinstance(inputs[slot], Constant):
                raise UnsupportedOpError(f"{where} needs constant weights")
            codes, channel_scale = self._weight_codes(inputs[slot], weight_axis)
            bias = inputs[2].value if len(inputs) > 2 and inputs[2] is not None else 0.0
        function = linear_function(node, codes, evaluate_node, suffix)
        matrix, out_shape = dense_map(function, x_info.row_shape, where)
        if codes is None:  # a pooling: integer columns, each times its 1/k
            weight, factors = integer_columns(matrix, where)
            pooled = pooled_scale_and_bias(matrix, x_info, out_shape)
            if pooled is None:
                return self._linear(node, inputs, keep_accumulator=False)
            scale, bias = pooled[0] * factors.reshape(1, *out_shape), pooled[1]
        else:
            weight = np.rint(matrix)
            scale = np.float64(x_info.scale) * np.ones((1, *out_shape))
        if layout is not None:
            scale = scale * channel_broadcast(channel_scale, layout[2], out_shape)
            scale = scale * float(node.attributes.get("alpha", 1.0))
            bias = bias_row(node, bias, layout[2], out_shape)
        name = self._builder.add_linear(
            [x_name], weight, out_shape, uniform_or_array(scale), bias, f"{node.outputs[0]}:accumulator"
        )
        self._float_values[name] = self._calibration[node.outputs[0]]
        return Pending(name)

    def _max_pool(self, node, pending: Pending) -> Pending:
        where = f"MaxPool node {node.name!r}"
        x_name, suffix = self._linear_input(pending, where)
        selections, out_shape = window_selections(node, self._tensors[x_name].row_shape, suffix, where)
        return Pending(add_max_pool(self._builder, x_name, selections, out_shape, node.outputs[0]))

    def _linear_input(self, pending: Pending, where: str, keep_accumulator: bool = False) -> tuple[str, list]:
        """The integer tensor a linear op reads, and the shape ops between it and the op (part of the map)."""
        steps = list(pending.steps)
        suffix = []
        if not isinstance(pending.source, ModelInput):
            while steps and isinstance(steps[-1], FloatStep) and steps[-1].op_type in LINEAR_SUFFIX_OPS:
                suffix.insert(0, steps.pop())
            if keep_accumulator and not steps:
                return pending.source, suffix
        return self._integer_input(Pending(pending.source, steps), where), suffix

    def _float_value(self, pending: Pending) -> np.ndarray:
        """The calibration value of ``pending``: its last step's ONNX output, or its source's."""
        if pending.steps:
            return self._calibration[pending.steps[-1].node.outputs[0]]
        if isinstance(pending.source, ModelInput):
            return self._calibration[self.numpy_model.input_names[pending.source.index]]
        return self._float_values[pending.source]

    def _weight_codes(self, weight: Constant, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Integer weights centred on zero, and their scale per output channel (along ``axis``)."""
        if weight.codes is None or not self.import_graph_quantizers:
            return quantize_per_channel(weight.value, axis, self.n_bits_op_weights, self.is_signed)
        return imported_codes_per_channel(*weight.codes, axis=axis)

    def _integer_input(self, pending: Pending, where: str) -> str:
        """Name of an integer tensor holding ``pending``, quantizing it (a table lookup) if needed."""
        is_model_input = isinstance(pending.source, ModelInput)
        if not pending.steps and not is_model_input and self._builder.is_codes(pending.source):
            return pending.source
        n_bits = self.n_bits_model_inputs if is_model_input else self.n_bits_op_inputs
        quantizer = UniformQuantizer.calibrate(self._float_value(pending), n_bits, is_signed=False)
        return self._materialize(pending, quantizer, where)

    def _materialize(self, pending: Pending, quantizer: UniformQuantizer, where: str) -> str:
        """Quantize ``pending`` with ``quantizer``: on the client for model inputs, else a table lookup."""
        # The same pending value feeding several layers is quantized once (calibration is deterministic).
        key = (pending.source, tuple(map(id, pending.steps)))
        if key in self._materialized:
            return self._materialized[key]
        name = self._materialize_new(pending, quantizer, where)
        self._materialized[key] = name
        return name

    def _materialize_new(self, pending: Pending, quantizer: UniformQuantizer, where: str) -> str:
        if isinstance(pending.source, ModelInput):
            return self._encode_input(pending, quantizer)
        return self._builder.add_lookup(pending.source, pending.steps, quantizer, where)

    def _encode_input(self, pending: Pending, quantizer: UniformQuantizer) -> str:
        """Graph input ``i``'s codes, computed by the client."""
        index = pending.source.index
        if index in self._encoders:
            raise UnsupportedOpError(
                f"the model input {self.numpy_model.input_names[index]!r} is quantized at two places; Veil "
                "supports graphs whose inputs each feed one quantizer"
            )
        encoder = register_input(self._builder, index, self._row_shapes, pending.steps, quantizer)
        self._encoders[index] = encoder
        return encoder.name

    def _maybe_requantize_output(self, output: Pending, float_value: np.ndarray) -> Pending:
        """Outputs stay raw accumulators (exact, no lookup) unless they are the circuit's widest value.

        An output accumulator no wider than a value the circuit already holds costs no precision: it
        is decrypted as is. Only a wider one is worth a rounding and a lookup, when rounding is asked.
        """
        info = self._tensors[output.source]
        if self.rounding is None or info.bit_width <= self.rounding.kept_bits(self.n_bits_op_inputs):
            return output
        if output.steps:
            return output  # the float steps after the accumulator are applied on the client
        if info.bit_width <= self._builder.widest_before(output.source, JOINED_INPUT):
            return output
        # Requantize the accumulator (with its bias) to model_outputs bits.
        quantizer = UniformQuantizer.calibrate(float_value, self.n_bits_model_outputs, is_signed=True)
        return Pending(self._materialize(Pending(output.source), quantizer, "the model output"))


class PostTrainingAffineQuantization(ONNXConverter):
    """Post-training quantization: calibrate every quantizer on the float model's values.

    Weights get per-output-channel symmetric codes of ``op_weights`` bits, layer inputs unsigned affine
    codes of ``op_inputs`` bits, the model input ``model_inputs`` bits.
    """

    import_graph_quantizers = False


class PostTrainingQATImporter(ONNXConverter):
    """Import a quantization-aware-trained network: its own quantizers (QDQ nodes) are used as they are.

    Only tensors that reach a linear layer without a quantizer get a calibrated one.
    """

    import_graph_quantizers = True
