import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

from veil.deployment import FHEModelClient, FHEModelDev, ServiceClient
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor

# Small circuits (4-bit accumulators, one hidden neuron per feature): keygen in ~2 s, keys of ~110 MB.
SMALL = {
    "max_epochs": 20,
    "random_state": 0,
    "module__n_accum_bits": 4,
    "module__n_hidden_neurons_multiplier": 1,
    "module__n_a_bits": 2,
}


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningService:
    """One `veil serve` process on a loopback port (extra command-line options and environment allowed)."""

    def __init__(self, server_dir, key_dir, *options: str, env: dict | None = None):
        self.server_dir, self.key_dir = Path(server_dir), Path(key_dir)
        self.options, self.env = options, env
        self.process = None
        self.url = None

    def start(self) -> ServiceClient:
        port = free_port()
        command = [sys.executable, "-m", "veil.cli", "serve", str(self.server_dir), "--port", str(port)]
        command += ["--key-dir", str(self.key_dir), *self.options]
        descriptor, log_path = tempfile.mkstemp(prefix="veil-serve-", suffix=".log")
        os.close(descriptor)
        self.log_path = Path(log_path)
        with self.log_path.open("wb") as log:  # a file, not a pipe: nobody reads a pipe, and it fills up
            environment = {**os.environ, **(self.env or {})}
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        self.url = f"http://127.0.0.1:{port}"
        client = self.client()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"veil serve exited early:\n{self.output()}")
            try:
                client.info()
                return client
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("veil serve did not answer within 120 s")

    def client(self, token: str | None = None) -> ServiceClient:
        return ServiceClient(self.url, timeout=300, token=token)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def resident_bytes(self) -> int:
        """Resident memory of the HTTP process (its workers are separate processes)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="package")
def server_only_dir(classifier_dir, tmp_path_factory):
    """A server directory holding only server.veil (no client file), as on a real server."""
    server_dir = tmp_path_factory.mktemp("server")
    shutil.copy(classifier_dir / "server.veil", server_dir)
    return server_dir


@pytest.fixture(scope="package")
def key_owners(classifier_dir):
    """Four clients of the classifier, each with its own keys (keygen once for the package)."""
    owners = [FHEModelClient(classifier_dir) for _ in range(4)]
    for owner in owners:
        owner.generate_private_and_evaluation_keys()
    return owners


@pytest.fixture(scope="package")
def regressor_client(regressor_dir):
    """A client of the regressor, with its keys: another model's rows and keys, for the refusal tests."""
    client = FHEModelClient(regressor_dir)
    client.generate_private_and_evaluation_keys()
    return client


@pytest.fixture(scope="session")
def service_class():
    """The RunningService class (two conftest modules make `import conftest` ambiguous in test modules)."""
    return RunningService
