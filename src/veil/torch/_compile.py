"""Compile users' networks: float torch models, ONNX models, and Brevitas QAT models."""

from __future__ import annotations

import numpy as np
import onnx
import torch

from .. import fhe
from ..errors import InputValidationError, QuantizationError
from ..onnx import NumpyModule
from ..quantization import (
    PostTrainingAffineQuantization,
    PostTrainingQATImporter,
    QuantizedModule,
    as_float_array,
)
from ._export import torch_to_onnx

#: Post-training defaults: 6-bit codes, accumulators rounded to 8 most significant bits before each
#: lookup. Lower both for speed (a lookup on 8 bits costs ~40x one on 4 bits).
DEFAULT_N_BITS = 6
DEFAULT_ROUNDING_THRESHOLD_BITS = {"n_bits": 8, "method": "exact"}


def _inputset_arrays(inputset) -> tuple[np.ndarray, ...]:
    """One float32 array per graph input: a tuple (or list) of arrays means several inputs."""
    several = isinstance(inputset, tuple | list) and all(
        isinstance(item, np.ndarray | torch.Tensor) for item in inputset
    )
    return tuple(_inputset_array(item) for item in inputset) if several else (_inputset_array(inputset),)


def _inputset_array(inputset) -> np.ndarray:
    if isinstance(inputset, torch.Tensor):
        inputset = inputset.detach().cpu().numpy()
    array = as_float_array(inputset, "inputset")
    if array.ndim < 2 or array.shape[0] == 0:
        raise InputValidationError(f"inputset must have shape (n_rows, ...), got {array.shape}")
    return array.astype(np.float32)


def build_quantized_module(
    onnx_model: onnx.ModelProto,
    inputset: np.ndarray,
    n_bits,
    rounding_threshold_bits=None,
    import_qat: bool = False,
) -> QuantizedModule:
    """Quantize an ONNX model into a :class:`QuantizedModule` without compiling it."""
    converter_class = PostTrainingQATImporter if import_qat else PostTrainingAffineQuantization
    converter = converter_class(
        n_bits, NumpyModule(onnx_model), rounding_threshold_bits=rounding_threshold_bits
    )
    return converter.quantize_module(*_inputset_arrays(inputset))


def compile_onnx_model(
    onnx_model: onnx.ModelProto,
    inputset,
    n_bits=DEFAULT_N_BITS,
    rounding_threshold_bits=DEFAULT_ROUNDING_THRESHOLD_BITS,
    p_error: float | None = fhe.DEFAULT_P_ERROR,
    global_p_error: float | None = fhe.DEFAULT_GLOBAL_P_ERROR,
    verbose: bool = False,
) -> QuantizedModule:
    """Quantize a float ONNX model after training and compile it to FHE.

    Parameters
    ----------
    onnx_model : onnx.ModelProto
        A float model with one or several inputs of shape ``(rows, ...)`` and one output.
    inputset : array-like, or a tuple of arrays (one per model input)
        Representative rows: calibration data for the quantizers and tracing data for the compiler.
    n_bits : int or dict
        Bit-widths, see :func:`veil.quantization.get_n_bits_dict`.
    rounding_threshold_bits : None, int or dict
        Accumulator rounding before each table lookup.
    p_error, global_p_error : float or None
        Failure probability of one lookup, or of a whole evaluation.
    verbose : bool
        Print the compiled MLIR.

    Returns
    -------
    QuantizedModule
        Compiled: ``forward(x, fhe="simulate" | "execute")`` works.
    """
    inputset = _inputset_arrays(inputset)
    return _quantize_and_compile(
        onnx_model,
        inputset,
        n_bits,
        rounding_threshold_bits,
        p_error,
        global_p_error,
        verbose,
        import_qat=False,
    )


def compile_torch_model(
    torch_model: torch.nn.Module,
    torch_inputset,
    n_bits=DEFAULT_N_BITS,
    rounding_threshold_bits=DEFAULT_ROUNDING_THRESHOLD_BITS,
    p_error: float | None = fhe.DEFAULT_P_ERROR,
    global_p_error: float | None = fhe.DEFAULT_GLOBAL_P_ERROR,
    verbose: bool = False,
) -> QuantizedModule:
    """Quantize a float torch model after training (calibrated on ``torch_inputset``) and compile it.

    See :func:`compile_onnx_model` for the parameters.

    Examples
    --------
    >>> import torch, numpy as np
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    >>> module = compile_torch_model(model, X, n_bits=3, rounding_threshold_bits=4)
    >>> module.forward(X[:2], fhe="simulate").shape
    (2, 2)
    """
    inputset = _inputset_arrays(torch_inputset)
    return _quantize_and_compile(
        _export(torch_model, inputset),
        inputset,
        n_bits,
        rounding_threshold_bits,
        p_error,
        global_p_error,
        verbose,
    )


def compile_brevitas_qat_model(
    torch_model: torch.nn.Module,
    torch_inputset,
    n_bits=None,
    rounding_threshold_bits=None,
    p_error: float | None = fhe.DEFAULT_P_ERROR,
    global_p_error: float | None = fhe.DEFAULT_GLOBAL_P_ERROR,
    verbose: bool = False,
) -> QuantizedModule:
    """Compile a quantization-aware-trained Brevitas network with its own quantizers.

    ``n_bits`` only applies where the network has no quantizer of its own (default: 8 bits there).
    See :func:`compile_onnx_model` for the other parameters.
    """
    inputset = _inputset_arrays(torch_inputset)
    n_bits = 8 if n_bits is None else n_bits
    onnx_model = _export(torch_model, inputset)
    if not any(node.op_type == "QuantizeLinear" for node in onnx_model.graph.node):
        raise QuantizationError(
            "no quantizers found in torch_model: compile_brevitas_qat_model compiles networks trained with "
            "Brevitas quantized layers (QuantIdentity, QuantLinear, QuantConv2d...); compile a float network "
            "with compile_torch_model"
        )
    return _quantize_and_compile(
        onnx_model,
        inputset,
        n_bits,
        rounding_threshold_bits,
        p_error,
        global_p_error,
        verbose,
        import_qat=True,
    )


def _export(torch_model, inputset: tuple[np.ndarray, ...]) -> onnx.ModelProto:
    if not isinstance(torch_model, torch.nn.Module):
        raise TypeError(f"torch_model must be a torch.nn.Module, got {type(torch_model).__name__}")
    return torch_to_onnx(torch_model, tuple(array[:1] for array in inputset))


def _quantize_and_compile(
    onnx_model, inputset, n_bits, rounding_threshold_bits, p_error, global_p_error, verbose, import_qat=False
) -> QuantizedModule:
    module = build_quantized_module(
        onnx_model, inputset, n_bits, rounding_threshold_bits, import_qat=import_qat
    )
    inputset = inputset if len(inputset) > 1 else inputset[0]
    module.compile(inputset, p_error=p_error, global_p_error=global_p_error, verbose=verbose)
    return module
