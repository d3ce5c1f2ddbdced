"""Export torch networks (float or Brevitas QAT) to ONNX."""

from __future__ import annotations

import io
import os
import tempfile
import warnings

import numpy as np
import onnx
import torch

from veil._third_party import import_quietly

INPUT_NAME = "input_0"
OUTPUT_NAME = "output_0"


def _input_names(n_inputs: int) -> list[str]:
    return [f"input_{i}" for i in range(n_inputs)]


def _dynamic_batch(n_inputs: int) -> dict:
    return {name: {0: "batch"} for name in [*_input_names(n_inputs), OUTPUT_NAME]}


def _has_brevitas_layers(model: torch.nn.Module) -> bool:
    """Whether any submodule is a Brevitas (quantized) layer."""
    return any(type(module).__module__.split(".")[0] == "brevitas" for module in model.modules())


def _as_example_tensor(model: torch.nn.Module, example_input: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate the example input and turn it into a tensor of the model's float dtype."""
    if isinstance(example_input, np.ndarray):
        float_dtypes = [p.dtype for p in model.parameters() if p.dtype.is_floating_point]
        example_input = torch.from_numpy(example_input).to(float_dtypes[0] if float_dtypes else torch.float32)
    elif not isinstance(example_input, torch.Tensor):
        raise TypeError(
            f"example_input must be a torch.Tensor or a numpy array, got {type(example_input).__name__}."
        )
    if example_input.dtype.is_floating_point and not bool(torch.isfinite(example_input).all()):
        raise ValueError("example_input contains NaN or infinite values; export needs finite values.")
    return example_input


def _export_float(model: torch.nn.Module, example: tuple, opset_version: int) -> onnx.ModelProto:
    """Export with torch's TorchScript-based exporter into memory."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            example,
            buffer,
            input_names=_input_names(len(example)),
            output_names=[OUTPUT_NAME],
            dynamic_axes=_dynamic_batch(len(example)),
            opset_version=opset_version,
            do_constant_folding=True,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def _export_brevitas(model: torch.nn.Module, example: tuple, opset_version: int) -> onnx.ModelProto:
    """Export a Brevitas network as QuantizeLinear / Clip / DequantizeLinear (QCDQ) ONNX."""
    # brevitas.export warns at import about CUDA kernels Veil never uses: imported with that noise hidden.
    export_onnx_qcdq = import_quietly("brevitas.export").export_onnx_qcdq

    with tempfile.TemporaryDirectory() as directory:
        # The QCDQ exporter returns None on the TorchScript path: read the model back from disk.
        path = os.path.join(directory, "model.onnx")
        export_onnx_qcdq(
            model,
            args=example if len(example) > 1 else example[0],
            export_path=path,
            # dynamo refuses input-aware (accumulator-aware, A2Q) weight quantizers.
            dynamo=False,
            opset_version=opset_version,
            input_names=_input_names(len(example)),
            output_names=[OUTPUT_NAME],
            dynamic_axes=_dynamic_batch(len(example)),
            do_constant_folding=True,
            keep_initializers_as_inputs=False,
        )
        return onnx.load(path)


def torch_to_onnx(
    model: torch.nn.Module,
    example_input: torch.Tensor | np.ndarray | tuple,
    opset_version: int = 17,
) -> onnx.ModelProto:
    """Export a torch network to a checked ONNX model with inputs ``input_0``, ... and output ``output_0``.

    Networks containing Brevitas quantized layers are exported in QCDQ form (QuantizeLinear, Clip,
    DequantizeLinear), others with torch's TorchScript exporter. The batch axis is dynamic.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is put in eval mode for the export; its training flag is restored afterwards.
    example_input : torch.Tensor or numpy.ndarray, or a tuple of them
        A finite example batch used to trace the network; a tuple for a network of several inputs.
    opset_version : int, default=17
        The ONNX operator set to export to.

    Returns
    -------
    onnx.ModelProto
        The exported model, validated by ``onnx.checker``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    >>> onnx_model = torch_to_onnx(model, torch.zeros(4, 3))
    >>> [node.op_type for node in onnx_model.graph.node]
    ['Gemm', 'Relu']
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    inputs = example_input if isinstance(example_input, tuple | list) else (example_input,)
    example = tuple(_as_example_tensor(model, value) for value in inputs)
    was_training = model.training
    model.eval()
    try:
        export = _export_brevitas if _has_brevitas_layers(model) else _export_float
        onnx_model = export(model, example, opset_version)
    finally:
        model.train(was_training)
    onnx.checker.check_model(onnx_model)
    return onnx_model
