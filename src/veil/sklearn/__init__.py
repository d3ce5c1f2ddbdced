"""Scikit-learn compatible estimators built on quantization-aware torch modules."""

from ._classifier import NeuralNetClassifier
from ._qnn_module import SparseQuantNeuralNetwork
from ._regressor import NeuralNetRegressor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "SparseQuantNeuralNetwork"]
