"""The quantization-aware torch network behind the built-in estimators, its routes and training schedules."""

from ._budget_schedule import GradualAccumulatorBudget
from ._lr_decay import LEARNED_SCALES_PATTERN, LateCosineDecay
from ._network import SparseQuantNeuralNetwork
from ._params import NETWORK_CONSTRAINTS
from ._routes import ACCUMULATOR_ROUTES

__all__ = [
    "ACCUMULATOR_ROUTES",
    "LEARNED_SCALES_PATTERN",
    "NETWORK_CONSTRAINTS",
    "GradualAccumulatorBudget",
    "LateCosineDecay",
    "SparseQuantNeuralNetwork",
]
