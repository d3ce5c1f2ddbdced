import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris

from veil.deployment import FHEModelDev
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor

# Small circuits (4-bit accumulators, one hidden neuron per feature): keygen in ~2 s, keys of ~110 MB.
SMALL = {
    "max_epochs": 20,
    "random_state": 0,
    "module__n_accum_bits": 4,
    "module__n_hidden_neurons_multiplier": 1,
    "module__n_a_bits": 2,
}


@pytest.fixture(scope="package", autouse=True)
def single_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def iris_rows():
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="package")
def compiled_classifier(iris_rows):
    X, y = iris_rows
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    model = NeuralNetClassifier(**SMALL).fit(X, labels)
    model.compile(X)
    return model


@pytest.fixture(scope="package")
def compiled_regressor():
    X, y = load_diabetes(return_X_y=True)
    X = X[:, :6].astype(np.float32)  # 6 features: its ciphertexts have another shape than iris's
    model = NeuralNetRegressor(**SMALL).fit(X, (y / 100).astype(np.float32))
    model.compile(X)
    return model, X


@pytest.fixture(scope="package")
def classifier_dir(compiled_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("classifier")
    FHEModelDev(path, compiled_classifier).save()
    return path


@pytest.fixture(scope="package")
def regressor_dir(compiled_regressor, tmp_path_factory):
    path = tmp_path_factory.mktemp("regressor")
    FHEModelDev(path, compiled_regressor[0]).save()
    return path
