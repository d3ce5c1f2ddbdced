"""Veil files: pickle-free model files that refuse truncated, altered and foreign content."""

import hashlib
import io
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris

import veil
from veil import _serialization as files
from veil.errors import NotCompiledError
from veil.quantization import QuantizedModule
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor
from veil.torch import compile_torch_model


def _dumped(model) -> bytes:
    buffer = io.BytesIO()
    model.dump(buffer)
    return buffer.getvalue()


def _rewrite_header(data: bytes, change) -> bytes:
    """Edit a file's JSON header and recompute its checksum, as a forger (or another Veil) would."""
    start = len(files.MAGIC) + 8
    (size,) = struct.unpack("<Q", data[len(files.MAGIC) : start])
    header = json.loads(data[start : start + size])
    change(header)
    encoded = json.dumps(header).encode()
    body = files.MAGIC + struct.pack("<Q", len(encoded)) + encoded + data[start + size : -32]
    return body + hashlib.sha256(body).digest()


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X.astype(np.float32), np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]


@pytest.fixture(scope="module")
def classifier(iris):
    X, labels = iris
    params = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 3, "random_state": 0}
    return NeuralNetClassifier(**params).fit(X, labels)


# -- the container ---------------------------------------------------------------------------------------
def test_container_round_trips_plain_data_and_arrays():
    content = {
        "ints": np.arange(6, dtype=np.int64).reshape(2, 3),
        "floats32": np.linspace(0, 1, 4, dtype=np.float32),
        "labels": np.array(["a", "bc"]),
        "flags": np.array([True, False]),
        "zero_dim": np.array(3, dtype=np.int64),
        "tuple": (1, 2.5, None, "x"),
        "int_keys": {0: "zero", 3: (4,)},
        "specials": [float("nan"), float("inf"), -0.0],
    }
    kind, back = files.from_bytes(files.to_bytes("test", content), "test")
    assert kind == "test"
    for name in ("ints", "floats32", "labels", "flags", "zero_dim"):
        np.testing.assert_array_equal(back[name], content[name])
        assert back[name].dtype == content[name].dtype and back[name].shape == content[name].shape
    assert back["tuple"] == content["tuple"] and back["int_keys"] == content["int_keys"]
    assert np.isnan(back["specials"][0]) and back["specials"][1:] == [float("inf"), -0.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([object()], dtype=object), "dtype object"),
        (io.BytesIO(), "cannot write a _io.BytesIO"),
        (print, "cannot write a builtins.builtin_function_or_method"),
    ],
)
def test_container_refuses_anything_but_data(value, message):
    with pytest.raises(TypeError, match=message):
        files.to_bytes("test", {"value": value})


def test_garbage_truncated_and_altered_files_are_refused():
    data = files.to_bytes("test", {"weights": np.arange(100)})
    with pytest.raises(files.ModelFileError, match="is not a Veil file"):
        files.from_bytes(b"\x80\x04garbage pickle", "test")
    with pytest.raises(files.ModelFileError, match="truncated or was altered"):
        files.from_bytes(data[:-50], "test")
    altered = bytearray(data)
    altered[len(data) // 2] ^= 1
    with pytest.raises(files.ModelFileError, match="checksum does not match"):
        files.from_bytes(bytes(altered), "test")
    with pytest.raises(files.ModelFileError, match="holds a 'test', expected 'quantized-module'"):
        files.from_bytes(data, "quantized-module")


def test_a_file_from_another_veil_version_loads_unless_its_format_differs():
    data = files.to_bytes("test", {"a": 1})
    patch_release = _rewrite_header(data, lambda header: header.update(veil_version="0.1.99"))
    assert files.from_bytes(patch_release, "test") == ("test", {"a": 1})
    other_format = _rewrite_header(data, lambda header: header.update(veil_version="9.0.0", format=2))
    with pytest.raises(
        files.ModelFileError, match=r"written by Veil 9\.0\.0 in file format 2; .* reads format 1"
    ):
        files.from_bytes(other_format, "test")


def test_every_file_type_is_in_the_inventory_and_defined_where_it_says():
    for name, module_name in files.FILE_TYPES.items():
        cls = files._file_type(name)
        assert cls is not None and cls.__module__ == module_name, name


@pytest.mark.parametrize("kind", ["classifier", "regressor", "module"])
def test_veil_load_works_in_a_fresh_interpreter(kind, tmp_path, iris):
    X, y = iris
    path = tmp_path / f"{kind}.veil"
    if kind == "module":
        model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        compile_torch_model(model, X.to_numpy(), n_bits=3).dump(path)
    else:
        estimator = NeuralNetClassifier if kind == "classifier" else NeuralNetRegressor
        target = y if kind == "classifier" else np.arange(len(X)) % 3
        estimator(module__n_layers=2, module__n_accum_bits=4, max_epochs=1).fit(X, target).dump(path)
    script = f"import veil; model = veil.load({str(path)!r}); print(type(model).__name__)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = {
        "classifier": "NeuralNetClassifier",
        "regressor": "NeuralNetRegressor",
        "module": "QuantizedModule",
    }
    assert result.stdout.strip() == expected[kind]


def test_a_forged_file_cannot_name_arbitrary_types_or_dtypes():
    data = files.to_bytes("test", {"a": np.arange(3)})

    def smuggle_object(header):
        header["content"] = {"__object__": "os.system", "fields": {"command": "touch /tmp/pwned"}}

    with pytest.raises(files.ModelFileError, match="unknown type 'os.system'"):
        files.from_bytes(_rewrite_header(data, smuggle_object), "test")

    def smuggle_object_dtype(header):
        header["arrays"][0]["dtype"] = "|O"

    with pytest.raises(files.ModelFileError, match="dtype object"):
        files.from_bytes(_rewrite_header(data, smuggle_object_dtype), "test")

    def point_past_the_end(header):
        header["arrays"][0].update(offset=1000)

    with pytest.raises(files.ModelFileError, match="past the end"):
        files.from_bytes(_rewrite_header(data, point_past_the_end), "test")


# -- models ----------------------------------------------------------------------------------------------
def test_quantized_module_round_trip_then_recompile(tmp_path):
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    X = np.random.default_rng(0).normal(size=(40, 4))
    module = compile_torch_model(network, X, n_bits=3)
    module.dump(tmp_path / "module.veil")
    loaded = veil.load(tmp_path / "module.veil")
    assert isinstance(loaded, QuantizedModule) and loaded.fhe_circuit is None
    np.testing.assert_array_equal(loaded.forward(X), module.forward(X))
    assert loaded.onnx_model == module.onnx_model
    with pytest.raises(NotCompiledError):
        loaded.forward(X, fhe="simulate")
    loaded.compile(X)
    np.testing.assert_array_equal(loaded.forward(X, fhe="simulate"), module.forward(X, fhe="simulate"))


def test_classifier_round_trip_keeps_labels_names_weights_and_history(classifier, iris):
    X, labels = iris
    loaded = veil.load(io.BytesIO(_dumped(classifier)))
    assert type(loaded) is NeuralNetClassifier
    assert loaded.get_params() == classifier.get_params()
    np.testing.assert_array_equal(loaded.predict(X), classifier.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))
    np.testing.assert_array_equal(loaded.feature_names_in_, classifier.feature_names_in_)
    assert [row["train_loss"] for row in loaded.history] == [row["train_loss"] for row in classifier.history]
    for name, tensor in classifier.base_module_to_compile.state_dict().items():
        torch.testing.assert_close(loaded.base_module_to_compile.state_dict()[name], tensor)
    loaded.compile(X)  # compiles again without retraining
    np.testing.assert_array_equal(loaded.predict(X, fhe="simulate"), classifier.predict(X))


def test_regressor_and_unfitted_estimators_round_trip():
    X, y = load_diabetes(return_X_y=True)
    regressor = NeuralNetRegressor(max_epochs=2, random_state=0).fit(X, y.astype(np.float32))
    loaded = veil.load(io.BytesIO(_dumped(regressor)))
    np.testing.assert_array_equal(loaded.predict(X), regressor.predict(X))
    unfitted = veil.load(io.BytesIO(_dumped(NeuralNetClassifier(module__activation_function=torch.nn.Tanh))))
    assert unfitted.module__activation_function is torch.nn.Tanh
    assert not unfitted.__sklearn_is_fitted__()


def test_parameters_holding_code_cannot_be_dumped():
    from skorch.callbacks import EpochScoring

    model = NeuralNetClassifier(callbacks=[EpochScoring("accuracy")])
    with pytest.raises(TypeError, match="cannot write parameter callbacks=.*never stores code"):
        _dumped(model)


def test_a_tampered_model_file_is_refused(classifier, tmp_path):
    path = tmp_path / "model.veil"
    classifier.dump(path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(veil.ModelFileError, match="truncated or was altered"):
        veil.load(path)


def test_a_file_from_before_a_parameter_existed_keeps_its_network(iris):
    from veil.sklearn._files import estimator_from_content, estimator_to_content

    X, labels = iris
    params = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 3, "random_state": 0}
    old = NeuralNetClassifier(**params, module__output_partial_sums=False).fit(X, labels)
    content = estimator_to_content(old)
    del content["params"]["module__output_partial_sums"]  # as written before the parameter existed
    back = estimator_from_content(NeuralNetClassifier, content)
    assert back.get_params()["module__output_partial_sums"] is False
    np.testing.assert_array_equal(back.predict_proba(X), old.predict_proba(X))
    with torch.no_grad():
        rows = torch.as_tensor(X.to_numpy()[:20])
        np.testing.assert_array_equal(back.skorch_net_.module_(rows), old.skorch_net_.module_(rows))
