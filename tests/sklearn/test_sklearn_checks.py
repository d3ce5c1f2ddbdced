"""scikit-learn's own estimator checks on NeuralNetClassifier and NeuralNetRegressor.

Models are kept tiny (one hidden layer, few epochs) so the whole suite runs in about a minute; lr is raised so
that the accuracy checks still pass.
"""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor

TINY = {"module__n_layers": 2, "max_epochs": 10, "lr": 0.01, "random_state": 0}


class FloatTargetRegressor(NeuralNetRegressor):
    """NeuralNetRegressor fed float targets: sklearn's checks give regressors integer targets, which
    NeuralNetRegressor rejects (see INTEGER_TARGET_CHECKS); this runs every other check on the regressor."""

    def fit(self, X, y, **fit_params):
        if y is not None and np.issubdtype(np.asarray(y).dtype, np.integer):
            y = np.asarray(y, dtype=np.float64)
        return super().fit(X, y, **fit_params)


KWARGS_AS_PARAMETER = (
    "the check passes the signature's **kwargs as a parameter named 'kwargs'; set_params rejects names that "
    "are neither constructor parameters nor skorch parameters routed by prefix (module__*, optimizer__*...)"
)
INTEGER_TARGETS = (
    "regression targets must be floating-point numbers (as in the reference); the check uses integers"
)

# Checks that fit a regressor on integer targets.
INTEGER_TARGET_CHECKS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_regressors_int",
    "check_supervised_y_2d",
)


def expected_failed_checks(estimator) -> dict[str, str]:
    expected = {"check_do_not_raise_errors_in_init_or_set_params": KWARGS_AS_PARAMETER}
    if type(estimator) is NeuralNetRegressor:
        expected.update(dict.fromkeys(INTEGER_TARGET_CHECKS, INTEGER_TARGETS))
    return expected


@parametrize_with_checks(
    [NeuralNetClassifier(**TINY), NeuralNetRegressor(**TINY), FloatTargetRegressor(**TINY)],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
