"""Prototype: a learned scale and centre per input feature before the 3-bit input quantizer.

Each feature is mapped to ``(x - centre) * scale`` with both learned by gradient descent through the
quantizer, so that each feature can spread its values over the grid's eight levels instead of the four
or five that the shared grid gives most of digits' pixels. The map runs on the client (the exported graph
holds it as a Sub and a Mul before the quantizer), so it costs nothing in FHE, and the accumulator bound
is unchanged (every feature still spans the grid).

Usage (repository root, PYTHONPATH=.): feature_affine.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys

import numpy as np
import torch
from scoring import score

import veil.sklearn._qnn_module as qnn_module

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
Net = qnn_module.SparseQuantNeuralNetwork
original_build_layers, original_forward = Net._build_layers, Net.forward


def build_layers(self):
    original_build_layers(self)
    self.feature_centre = torch.nn.Parameter(torch.zeros(self.input_dim))
    self.feature_scale = torch.nn.Parameter(torch.ones(self.input_dim))


def forward(self, x):
    return original_forward(self, (x - self.feature_centre) * self.feature_scale)


Net._build_layers, Net.forward = build_layers, forward


def learned_affine(model, X_test):
    scale = model.base_module_to_compile.feature_scale.detach()
    predicted = model.skorch_net_.predict(X_test.astype(np.float32))
    clear = np.searchsorted(model.classes_, model.predict(X_test, fhe="disable"))
    return {"torch_equals_clear": bool(np.array_equal(predicted, clear)),
            "scale_range": [round(float(scale.min()), 2), round(float(scale.max()), 2)]}


score("feature_affine", datasets, seeds, out, params, extra=learned_affine)
