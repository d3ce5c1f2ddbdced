"""QuantizedModule: the integer model, its client-side encoding and decoding, and its FHE circuit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from .. import fhe
from .._progress import SLOW_STEP_SECONDS, map_rows, stage
from .._serialization import serializable, write_file
from ..errors import InputValidationError, NotCompiledError, QuantizationError
from ._bits import RoundingPolicy
from ._inputs import InputEncoder, JointInputEncoder
from ._integer_graph import IntegerGraph, TensorInfo
from ._quantizers import UniformQuantizer
from ._steps import FloatStep, apply_steps

FHE_MODES = ("disable", "simulate", "execute")
QUANTIZED_MODULE_KIND = "quantized-module"
SIMULATION_ROWS = 128
MAX_LOOKUP_BIT_WIDTH = 16  # the widest table lookup concrete-python compiles


@serializable
@dataclass(frozen=True)
class OutputDecoder:
    """Client side: the circuit's integer output → floats (dequantization, then any trailing float ops)."""

    tensor: TensorInfo
    steps: tuple[FloatStep, ...]

    def decode(self, stored: np.ndarray) -> np.ndarray:
        return apply_steps(self.steps, self.tensor.to_float(stored))

    @property
    def quantizer(self) -> UniformQuantizer:
        """The affine map of the integer output (bias and trailing float ops excluded)."""
        return UniformQuantizer(
            n_bits=self.tensor.bit_width,
            is_signed=False,
            scale=self.tensor.scale,
            zero_point=self.tensor.zero_point,
        )


class QuantizedModule:
    """An integer-only model that runs in clear, in FHE simulation, or encrypted.

    Built by :class:`~veil.quantization.PostTrainingAffineQuantization` or
    :class:`~veil.quantization.PostTrainingQATImporter`, or by the ``veil.torch.compile_*`` functions.

    Attributes
    ----------
    input_quantizers, output_quantizers : list of UniformQuantizer
        How the client encodes inputs and decodes outputs.
    fhe_circuit : veil.fhe.FheCircuit or None
        The compiled circuit, after :meth:`compile`.
    """

    def __init__(
        self,
        graph: IntegerGraph,
        input_encoder: InputEncoder | JointInputEncoder,
        output_decoder: OutputDecoder,
        n_bits: dict[str, int],
        rounding: RoundingPolicy | None,
        onnx_model=None,
    ):
        self.graph = graph
        self.input_encoder = input_encoder
        self.output_decoder = output_decoder
        self.n_bits = n_bits
        self.rounding = rounding
        self.onnx_model = onnx_model
        self.fhe_circuit: fhe.FheCircuit | None = None
        self._simulation_circuit: fhe.FheCircuit | None = None

    def __getstate__(self) -> dict:
        # Compiled circuits hold native objects that do not pickle: an unpickled module compiles again.
        return {**self.__dict__, "fhe_circuit": None, "_simulation_circuit": None}

    def __copy__(self) -> QuantizedModule:
        duplicate = object.__new__(type(self))
        duplicate.__dict__.update(self.__dict__)  # a shallow copy keeps the compiled circuits
        return duplicate

    # -- files -------------------------------------------------------------------------------------------
    def dump(self, file) -> None:
        """Write this module to ``file`` (a path or a binary file object) in Veil's pickle-free format.

        The compiled circuit is not written: after :func:`veil.load`, call :meth:`compile` again (no
        retraining needed).
        """
        write_file(file, QUANTIZED_MODULE_KIND, self.to_content())

    def to_content(self) -> dict:
        """This module as plain data for a Veil file."""
        onnx_bytes = None
        if self.onnx_model is not None:
            onnx_bytes = np.frombuffer(self.onnx_model.SerializeToString(), dtype=np.uint8)
        return {
            "graph": self.graph,
            "input_encoder": self.input_encoder,
            "output_decoder": self.output_decoder,
            "n_bits": dict(self.n_bits),
            "rounding": self.rounding,
            "onnx_model": onnx_bytes,
        }

    @classmethod
    def from_content(cls, content: dict) -> QuantizedModule:
        """Rebuild a module from :meth:`to_content`'s data."""
        onnx_model = None
        if content["onnx_model"] is not None:
            onnx_model = onnx.ModelProto.FromString(content["onnx_model"].tobytes())
        return cls(
            graph=content["graph"],
            input_encoder=content["input_encoder"],
            output_decoder=content["output_decoder"],
            n_bits=content["n_bits"],
            rounding=content["rounding"],
            onnx_model=onnx_model,
        )

    # -- client side -------------------------------------------------------------------------------
    @property
    def input_quantizers(self) -> list[UniformQuantizer]:
        """One quantizer per graph input."""
        encoders = getattr(self.input_encoder, "encoders", (self.input_encoder,))
        return [encoder.quantizer for encoder in encoders]

    @property
    def output_quantizers(self) -> list[UniformQuantizer]:
        return [self.output_decoder.quantizer]

    def quantize_input(self, *x) -> np.ndarray:
        """Validate float rows (one array per graph input) and encode them as the circuit's integer input."""
        return self._encode(x, check_input=True)

    def _encode(self, xs: tuple, check_input: bool) -> np.ndarray:
        arrays = self._validate_input(xs) if check_input else [np.asarray(x, dtype=np.float64) for x in xs]
        return self.input_encoder.encode(*arrays)

    def dequantize_output(self, q_y: np.ndarray) -> np.ndarray:
        """Decode the circuit's integer output to floats."""
        return self.output_decoder.decode(np.asarray(q_y, dtype=np.int64))

    # -- integer model -----------------------------------------------------------------------------
    @property
    def predicted_max_bit_width(self) -> int:
        """Largest integer bit-width of the circuit, from worst-case bounds, known before compiling."""
        return self.graph.max_bit_width

    def quantized_forward(self, q_x: np.ndarray, fhe: str = "disable") -> np.ndarray:
        """Run the integer graph on encoded inputs: in clear, in FHE simulation, or encrypted."""
        mode = check_fhe_mode(fhe)
        return self._run_codes(self._validate_codes(q_x), mode)

    def forward(self, *x, fhe: str = "disable", check_input: bool = True) -> np.ndarray:
        """Quantize ``x`` (one array per graph input), run the integer model (``fhe``: "disable",
        "simulate", "execute"), dequantize.

        ``check_input=False`` skips the validation of ``x``, for callers that validated it already (the
        estimators): inputs are validated once, at the public boundary.
        """
        mode = check_fhe_mode(fhe)
        return self.dequantize_output(self._run_codes(self._encode(x, check_input), mode))

    __call__ = forward

    # -- FHE ---------------------------------------------------------------------------------------
    def compile(
        self,
        inputset,
        p_error: float | None = fhe.DEFAULT_P_ERROR,
        global_p_error: float | None = fhe.DEFAULT_GLOBAL_P_ERROR,
        verbose: bool = False,
        check_input: bool = True,
    ) -> fhe.FheCircuit:
        """Compile the integer graph to a TFHE circuit taking one row at a time.

        Parameters
        ----------
        inputset : array-like of shape (n_rows, ...), or a tuple of them for several graph inputs
            Representative float rows, used by the compiler to trace the graph.
        p_error, global_p_error : float or None
            Failure probability of one table lookup, or of a whole circuit evaluation.
        verbose : bool
            Print the compiled MLIR.
        check_input : bool
            False skips the validation of ``inputset``, for callers that validated it already.
        """
        self._check_lookup_precision()
        several = isinstance(self.input_encoder, JointInputEncoder)
        q_inputs = self._encode(tuple(inputset) if several else (inputset,), check_input)
        samples = [q_inputs[i : i + 1] for i in range(q_inputs.shape[0])]
        with stage("FHE compilation", steps=2, unit="circuits") as circuit_done:
            self.fhe_circuit = fhe.compile_integer_function(
                self.graph, samples, p_error=p_error, global_p_error=global_p_error, show_mlir=verbose
            )
            circuit_done()
            # A second, simulation-only circuit takes SIMULATION_ROWS rows per call: simulating a test set
            # through it is ~25x faster than one row at a time (measured: 2,640 vs 103 rows/s).
            blocks = np.resize(q_inputs, (max(SIMULATION_ROWS, len(q_inputs)), *q_inputs.shape[1:]))
            batches = [
                blocks[i : i + SIMULATION_ROWS]
                for i in range(0, len(blocks) - SIMULATION_ROWS + 1, SIMULATION_ROWS)
            ]
            self._simulation_circuit = fhe.compile_integer_function(
                self.graph, batches, p_error=p_error, global_p_error=global_p_error, execution=False
            )
        return self.fhe_circuit

    def _check_lookup_precision(self) -> None:
        for node in self.graph.nodes:
            precision = getattr(node, "input_bit_width", 0) - getattr(node, "lsbs_to_remove", 0)
            if precision > MAX_LOOKUP_BIT_WIDTH:
                raise QuantizationError(
                    f"the graph needs a table lookup on {precision}-bit values (node {node.output!r}); TFHE "
                    f"lookups take at most {MAX_LOOKUP_BIT_WIDTH} bits. Lower n_bits or set "
                    "rounding_threshold_bits (e.g. 6) to round accumulators before their lookup"
                )

    def _run_codes(self, q_x: np.ndarray, mode: str) -> np.ndarray:
        """The one way rows go through the model: the clear graph takes every row at once; a circuit takes
        its rows per call, counted on a progress bar (see :mod:`veil._progress`).

        Encrypted rows take a second or so each, so their bar shows from the start; simulation runs
        about 2,600 rows a second, so its bar shows only on a run that lasts over a second. Key
        generation, the first time a circuit executes, shows when it takes over a second as well.
        """
        if mode == "disable":
            return np.asarray(self.graph(q_x.astype(np.int64)), dtype=np.int64)
        circuit = self._compiled_circuit(mode)
        if mode == "simulate":
            if q_x.shape[0] > 1 and self._simulation_circuit is not None:
                circuit = self._simulation_circuit
            run, label, delay = circuit.simulate, "FHE simulation", SLOW_STEP_SECONDS
        else:
            with stage("key generation", delay=SLOW_STEP_SECONDS):
                circuit.keygen()
            run, label, delay = circuit.encrypt_run_decrypt, "FHE execution", 0.0
        chunks = map_rows(run, q_x, label, rows_per_call=circuit.input_shape[0], delay=delay)
        return np.concatenate(chunks, axis=0)

    def _compiled_circuit(self, mode: str) -> fhe.FheCircuit:
        if self.fhe_circuit is None:
            raise NotCompiledError(f"fhe={mode!r} needs a compiled model: call compile(inputset) first")
        return self.fhe_circuit

    def _validate_codes(self, q_x) -> np.ndarray:
        """Encoded inputs must be what :meth:`quantize_input` produces: integers within the input's code."""
        q_x = np.asarray(q_x)
        high = self.graph.tensors[self.graph.input].high
        if not np.issubdtype(q_x.dtype, np.integer) or q_x.shape[1:] != high.shape[1:]:
            raise InputValidationError(
                f"q_x must be integers of shape (n_rows, {', '.join(map(str, high.shape[1:]))}) as returned "
                f"by quantize_input, got dtype {q_x.dtype} and shape {q_x.shape}"
            )
        if q_x.size and (q_x.min() < 0 or np.any(q_x > high)):
            raise InputValidationError(
                f"q_x holds values outside the input code [0, {int(high.max())}]; "
                "encode rows with quantize_input"
            )
        return q_x.astype(np.int64)

    # -- validation --------------------------------------------------------------------------------
    def _validate_input(self, xs: tuple) -> list[np.ndarray]:
        return as_input_rows(self.input_encoder, xs, "x")


def as_input_rows(input_encoder, xs: tuple, name: str, min_rows: int = 0) -> list[np.ndarray]:
    """One float array per graph input of ``input_encoder``, each checked by :func:`as_float_rows`.

    Errors name the input ``name`` (one input) or ``name[i]`` (several), which must have equal row counts.
    """
    joint = isinstance(input_encoder, JointInputEncoder)
    shapes = input_encoder.row_shapes if joint else [input_encoder.row_shape]
    if len(xs) != len(shapes):
        raise InputValidationError(f"the model takes {len(shapes)} input array(s), got {len(xs)}")
    arrays = [
        as_float_rows(x, shape, f"{name}[{i}]" if len(xs) > 1 else name, min_rows)
        for i, (x, shape) in enumerate(zip(xs, shapes, strict=True))
    ]
    if len({len(array) for array in arrays}) > 1:
        raise InputValidationError(
            f"the inputs must have the same number of rows, got {[len(a) for a in arrays]}"
        )
    return arrays


def as_float_array(x, name: str) -> np.ndarray:
    """``x`` (array-like or pandas) as float64; non-numbers and NaN/inf raise an error naming ``name``."""
    if hasattr(x, "to_numpy"):  # pandas
        x = x.to_numpy()
    array = np.asarray(x)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputValidationError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise InputValidationError(f"{name} contains NaN or infinite values")
    return array


def as_float_rows(x, row_shape: tuple[int, ...], name: str, min_rows: int = 0) -> np.ndarray:
    """``x`` as float64 rows of ``row_shape`` (see :func:`as_float_array`), at least ``min_rows`` of them."""
    x = as_float_array(x, name)
    rows = "n_rows" if min_rows == 0 else f"n_rows >= {min_rows}"
    expected = f"({rows}, {', '.join(map(str, row_shape))})"
    if x.ndim == len(row_shape):
        raise InputValidationError(
            f"{name} must have shape {expected}; got a single row of shape {x.shape}: reshape it to (1, ...)"
        )
    if x.shape[1:] != tuple(row_shape) or len(x) < min_rows:
        raise InputValidationError(f"{name} must have shape {expected}, got {x.shape}")
    return x


def check_fhe_mode(fhe: str) -> str:
    """Return ``fhe`` if it is one of :data:`FHE_MODES`, else raise a ValueError listing them."""
    if fhe not in FHE_MODES:
        raise ValueError(f"fhe must be one of {FHE_MODES}, got {fhe!r}")
    return fhe
