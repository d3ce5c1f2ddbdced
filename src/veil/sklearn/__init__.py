"""Scikit-learn compatible estimators built on quantization-aware torch modules."""

from veil.qat import SparseQuantNeuralNetwork

from ._classifier import NeuralNetClassifier
from ._regressor import NeuralNetRegressor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "SparseQuantNeuralNetwork"]
