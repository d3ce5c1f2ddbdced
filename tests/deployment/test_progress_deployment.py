"""The deployment halves share the estimators' row loop and progress display: the in-process server shows
its encrypted rows when progress is on, the service's entry point (``run_with_keys``) never does."""

import numpy as np
import pytest

import veil
from veil.deployment import FHEModelClient, FHEModelServer, key_id_of


@pytest.fixture(scope="module")
def client_and_server(classifier_dir):
    client = FHEModelClient(classifier_dir)
    client.generate_private_and_evaluation_keys()
    return client, FHEModelServer(classifier_dir).load()


def test_the_server_counts_encrypted_rows_when_progress_is_on_but_not_in_the_service(
    client_and_server, compiled_classifier, iris_rows, capsys
):
    client, server = client_and_server
    rows = iris_rows[0][::50]  # 3 rows
    message = client.quantize_encrypt_serialize(rows)
    keys = client.get_serialized_evaluation_keys()
    previous = veil.set_progress(True)
    try:
        result = server.run(message, keys)
        err = capsys.readouterr().err
        again = server.run_with_keys(message, server.load_evaluation_keys(keys), key_id_of(keys))
        assert capsys.readouterr().err == ""  # the service's workers write to the service's log
    finally:
        veil.set_progress(previous)
    assert "FHE execution (server): 100%" in err and "3/3" in err
    np.testing.assert_array_equal(client.deserialize_decrypt(again), client.deserialize_decrypt(result))
    np.testing.assert_array_equal(
        client.deserialize_decrypt_predict(result), compiled_classifier.predict(rows, fhe="simulate")
    )


def test_the_deployment_halves_are_quiet_when_stderr_is_not_a_terminal(client_and_server, iris_rows, capsys):
    client, server = client_and_server
    message = client.quantize_encrypt_serialize(iris_rows[0][:2])
    client.deserialize_decrypt(server.run(message, client.get_serialized_evaluation_keys()))
    assert capsys.readouterr().err == ""
