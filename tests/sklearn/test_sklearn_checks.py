"""scikit-learn's own estimator checks on NeuralNetClassifier and NeuralNetRegressor.

Models are kept tiny (one hidden layer, few epochs) so the whole suite runs in about a minute; lr is raised so
that the accuracy checks still pass. Regressors take integer targets like MLPRegressor does.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor

# A fixed accumulator budget: the capacity search (tested in test_capacity.py) would train four networks.
TINY = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 10, "lr": 0.01, "random_state": 0}


KWARGS_AS_PARAMETER = (
    "the check passes the signature's **kwargs as a parameter named 'kwargs'; set_params rejects names that "
    "are neither constructor parameters nor skorch parameters routed by prefix (module__*, optimizer__*...)"
)


def expected_failed_checks(estimator) -> dict[str, str]:
    return {"check_do_not_raise_errors_in_init_or_set_params": KWARGS_AS_PARAMETER}


@parametrize_with_checks(
    [NeuralNetClassifier(**TINY), NeuralNetRegressor(**TINY)],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
