"""Quantization: quantizers, the integer graph, and the converters from float ONNX graphs."""

from ._bits import DEFAULT_MODEL_BITS, RoundingPolicy, get_n_bits_dict, parse_rounding_threshold_bits
from ._bounds import bit_width_of_range, integer_range
from ._converter import ONNXConverter, PostTrainingAffineQuantization, PostTrainingQATImporter
from ._module import (
    FHE_MODES,
    QuantizedModule,
    as_float_array,
    as_float_rows,
    as_input_rows,
    check_fhe_mode,
)
from ._predictions import class_labels, class_probabilities, regression_values
from ._quantizers import UniformQuantizer

__all__ = [
    "DEFAULT_MODEL_BITS",
    "FHE_MODES",
    "ONNXConverter",
    "PostTrainingAffineQuantization",
    "PostTrainingQATImporter",
    "QuantizedModule",
    "RoundingPolicy",
    "UniformQuantizer",
    "as_float_array",
    "as_float_rows",
    "as_input_rows",
    "bit_width_of_range",
    "check_fhe_mode",
    "class_labels",
    "class_probabilities",
    "get_n_bits_dict",
    "integer_range",
    "parse_rounding_threshold_bits",
    "regression_values",
]
