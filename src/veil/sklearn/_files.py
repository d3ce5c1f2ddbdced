"""Fitted estimators to and from Veil files: parameters, fitted attributes, torch weights, integer model.

Parameters that are classes (the activation function, criterion and optimizer) are written by name and
read back only from ``torch.nn`` and ``torch.optim``. Other callables (callbacks, a custom ``train_split``)
cannot be written: the format never stores code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skorch.history import History

from veil._serialization import ModelFileError, encode, serializable
from veil.quantization import QuantizedModule

from ._torch_state import load_trained_weights
from ._training import see_rounding

_CLASS_NAMESPACES = {
    "torch.nn": (torch.nn, torch.nn.Module),
    "torch.optim": (torch.optim, torch.optim.Optimizer),
}
_FITTED_ATTRIBUTES = (
    "n_features_in_",
    "n_outputs_",
    "classes_",
    "feature_names_in_",
    "capacity_",
    "training_plan_",
)
#: Parameters added after files were first written, with the value that keeps an older file's network:
#: a file without the parameter was trained before it existed.
_VALUES_BEFORE_PARAMETER = {"module__output_partial_sums": False}


@serializable
@dataclass(frozen=True)
class ClassReference:
    """A torch class named in a Veil file, e.g. ``torch.nn.ReLU``."""

    path: str

    @classmethod
    def of(cls, value: type, parameter: str) -> ClassReference:
        for namespace, (package, base) in _CLASS_NAMESPACES.items():
            if issubclass(value, base) and getattr(package, value.__name__, None) is value:
                return cls(f"{namespace}.{value.__name__}")
        raise TypeError(
            f"cannot write parameter {parameter}={value!r} into a Veil file: only classes of torch.nn and "
            "torch.optim can be stored by name"
        )

    def resolve(self) -> type:
        namespace, _, name = self.path.rpartition(".")
        package, base = _CLASS_NAMESPACES.get(namespace, (None, None))
        value = getattr(package, name, None) if package is not None else None
        if not (isinstance(value, type) and issubclass(value, base)):
            raise ModelFileError(
                f"the file names the class {self.path!r}, which is not a torch.nn/optim class"
            )
        return value


def estimator_to_content(estimator) -> dict:
    """An estimator's parameters and, when fitted, its fitted state, as plain data."""
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, type):
            value = ClassReference.of(value, name)
        elif isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        else:
            try:
                encode(value, [])
            except TypeError:
                raise TypeError(
                    f"cannot write parameter {name}={value!r} into a Veil file, which never stores code or "
                    "objects; set it to None (or a plain value) before dump, and again after loading"
                ) from None
        params[name] = value
    content = {"params": params, "fitted": None}
    if not estimator.__sklearn_is_fitted__():
        return content
    net = estimator.skorch_net_
    content["fitted"] = {
        "attributes": {
            name: _plain_array(getattr(estimator, name))
            for name in _FITTED_ATTRIBUTES
            if hasattr(estimator, name)
        },
        "quantized_module": estimator.quantized_module_.to_content(),
        "module_state": _to_numpy(net.module_.state_dict()),
        "optimizer_state": _to_numpy(net.optimizer_.state_dict()),
        "history": _to_numpy(list(net.history)),
    }
    return content


def estimator_from_content(cls, content: dict):
    """Rebuild an estimator of class ``cls`` from :func:`estimator_to_content`'s data."""
    params = {
        name: value.resolve() if isinstance(value, ClassReference) else value
        for name, value in {**_VALUES_BEFORE_PARAMETER, **content["params"]}.items()
    }
    estimator = cls(**params)
    fitted = content["fitted"]
    if fitted is None:
        return estimator
    for name, value in fitted["attributes"].items():
        if name == "feature_names_in_":
            value = value.astype(object)  # scikit-learn keeps feature names as an object array
        setattr(estimator, name, value)
    estimator.quantized_module_ = QuantizedModule.from_content(fitted["quantized_module"])
    net = estimator._new_fitted_net()
    net.initialize()
    load_trained_weights(net, _to_torch(fitted["module_state"]))
    see_rounding(net, estimator._rounding_threshold_bits())
    net.initialize_optimizer()
    net.optimizer_.load_state_dict(_to_torch(fitted["optimizer_state"]))
    net.module_.eval()
    net.history = History(fitted["history"])
    estimator.skorch_net_ = net
    return estimator


def _plain_array(value):
    if isinstance(value, np.ndarray) and value.dtype == object:
        return value.astype(str)  # feature names, or string class labels
    return value


def _to_numpy(value):
    """Tensors (at any depth of dicts, lists and tuples) as numpy arrays."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {key: _to_numpy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_numpy(item) for item in value)
    return value


def _to_torch(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, dict):
        return {key: _to_torch(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_torch(item) for item in value)
    return value
