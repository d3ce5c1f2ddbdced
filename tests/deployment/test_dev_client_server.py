"""FHEModelDev → FHEModelClient → FHEModelServer in a temporary directory, with real encryption."""

import numpy as np
import pytest

from veil import ModelFileError
from veil.deployment import FHEModelClient, FHEModelDev, FHEModelServer
from veil.deployment._messages import ENCRYPTED_INPUT_KIND, pack_rows
from veil.errors import EncryptedDataError, InputValidationError, NotCompiledError
from veil.sklearn import NeuralNetClassifier


@pytest.fixture(scope="module")
def classifier_client(key_owners):
    return key_owners[0]  # keys made once for the package (keygen is the slow part of a client)


@pytest.fixture(scope="module")
def classifier_server(classifier_dir):
    return FHEModelServer(classifier_dir).load()


def test_classifier_round_trip_equals_simulation(
    compiled_classifier, iris_rows, classifier_client, classifier_server
):
    rows = iris_rows[0][::25]  # 6 rows, one message
    message = classifier_client.quantize_encrypt_serialize(rows)
    result = classifier_server.run(message, classifier_client.get_serialized_evaluation_keys())
    np.testing.assert_array_equal(
        classifier_client.deserialize_decrypt_dequantize(result),
        compiled_classifier.predict_proba(rows, fhe="simulate"),
    )
    np.testing.assert_array_equal(
        classifier_client.deserialize_decrypt_predict(result),
        compiled_classifier.predict(rows, fhe="simulate"),
    )


def test_regressor_round_trip_equals_simulation(compiled_regressor, regressor_dir, tmp_path):
    model, X = compiled_regressor
    client = FHEModelClient(regressor_dir, key_dir=tmp_path / "keys")
    client.generate_private_and_evaluation_keys()
    rows = X[:3]
    result = (
        FHEModelServer(regressor_dir)
        .load()
        .run(client.quantize_encrypt_serialize(rows), client.get_serialized_evaluation_keys())
    )
    predictions = client.deserialize_decrypt_dequantize(result)
    assert predictions.shape == (3,)
    np.testing.assert_array_equal(predictions, model.predict(rows, fhe="simulate"))
    # The key directory keeps the keys: a new client of the same model reuses them.
    again = FHEModelClient(regressor_dir, key_dir=tmp_path / "keys")
    again.generate_private_and_evaluation_keys()
    assert again.key_id == client.key_id
    np.testing.assert_array_equal(again.deserialize_decrypt_dequantize(result), predictions)


def test_the_client_file_holds_no_weights_and_the_server_no_keys(classifier_dir, compiled_classifier):
    from veil._serialization import read_file

    _, client = read_file(classifier_dir / "client.veil", "veil-client")
    _, server = read_file(classifier_dir / "server.veil", "veil-server")
    assert set(client) == {
        "model_id",
        "input_encoder",
        "output_decoder",
        "output",
        "client_specs",
        "input_shape",
    }
    assert set(server) == {"model_id", "mlir", "p_error", "global_p_error", "client_specs"}
    assert client["model_id"] == server["model_id"]
    assert list(client["output"]["classes"]) == ["setosa", "versicolor", "virginica"]


def test_saving_needs_a_compiled_model_and_does_not_overwrite(
    classifier_dir, compiled_classifier, iris_rows, tmp_path
):
    X, y = iris_rows
    uncompiled = NeuralNetClassifier(max_epochs=1).fit(X, y)
    with pytest.raises(NotCompiledError, match="call compile"):
        FHEModelDev(tmp_path, uncompiled).save()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        FHEModelDev(classifier_dir, compiled_classifier).save()


def test_bad_inputs_give_clear_errors(
    classifier_client,
    classifier_server,
    regressor_client,
    key_owners,
    compiled_regressor,
    iris_rows,
    tmp_path,
):
    keys = classifier_client.get_serialized_evaluation_keys()
    good = classifier_client.quantize_encrypt_serialize(iris_rows[0][:1])
    with pytest.raises(InputValidationError, match=r"X must have shape \(n_rows >= 1, 4\)"):
        classifier_client.quantize_encrypt_serialize(np.zeros((2, 3)))
    with pytest.raises(InputValidationError, match=r"\(n_rows >= 1, 4\), got \(0, 4\)"):
        classifier_client.quantize_encrypt_serialize(np.zeros((0, 4)))
    with pytest.raises(InputValidationError, match=r"single row of shape \(4,\): reshape it to \(1, ...\)"):
        classifier_client.quantize_encrypt_serialize(np.zeros(4))
    with pytest.raises(InputValidationError, match="NaN"):
        classifier_client.quantize_encrypt_serialize(np.full((1, 4), np.nan))
    with pytest.raises(EncryptedDataError, match="not a Veil file"):
        classifier_server.run(b"garbage bytes", keys)
    with pytest.raises(EncryptedDataError, match="keys of 13 bytes do not fit this model"):
        classifier_server.run(good, b"garbage bytes")

    # Rows and keys of another model.
    other = regressor_client
    other_rows = other.quantize_encrypt_serialize(compiled_regressor[1][:1])
    with pytest.raises(EncryptedDataError, match="was made for model"):
        classifier_server.run(other_rows, keys)
    # Another model's ciphertext, relabelled as this model's: its shape gives it away.
    from veil.deployment._messages import unpack_rows

    _, (foreign,) = unpack_rows(other_rows, ENCRYPTED_INPUT_KIND, other.model_id)
    relabelled = pack_rows(
        ENCRYPTED_INPUT_KIND, classifier_client.model_id, classifier_client.key_id, [foreign]
    )
    with pytest.raises(EncryptedDataError, match="does not fit this model's circuit"):
        classifier_server.run(relabelled, keys)

    # Rows encrypted by another client of the same model, sent with the first client's keys.
    stranger = key_owners[1]
    assert stranger.key_id != classifier_client.key_id
    with pytest.raises(EncryptedDataError, match="encrypted under evaluation keys"):
        classifier_server.run(stranger.quantize_encrypt_serialize(iris_rows[0][:1]), keys)

    # A tampered server file.
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    data = bytearray((classifier_server.path / "server.veil").read_bytes())
    data[len(data) // 2] ^= 0x20
    (tampered / "server.veil").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="altered"):
        FHEModelServer(tampered).load()

    # After all that, a good request still works.
    assert classifier_client.deserialize_decrypt(classifier_server.run(good, keys)).shape[0] == 1
