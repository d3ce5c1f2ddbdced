"""Simulated accuracy against the float MLP of the same width (defaults, 50 epochs), with the input
quantizer and the hidden activation quantizers at their own bit-widths.

Usage (from the repository root, PYTHONPATH=.):
    accuracy.py <input bits> <hidden activation bits> <datasets> <seeds> <out.jsonl> [json params]

A lookup's cost depends on the accumulator, not on the activations: fewer activation bits let each
neuron read more inputs within the same accumulator budget, at no cost in latency.
"""
import json
import sys

import torch
from scoring import score

import veil.sklearn._qnn_module as qnn_module

input_bits, hidden_bits = int(sys.argv[1]), int(sys.argv[2])
datasets, seeds, out = sys.argv[3].split(","), sys.argv[4].split(","), sys.argv[5]
params = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}

original_make_quantizer = qnn_module.SparseQuantNeuralNetwork._make_quantizer
original_build_layers = qnn_module.SparseQuantNeuralNetwork._build_layers


def make_quantizer(self, signed, narrow, bits=None):
    quantizer = original_make_quantizer(self, signed, narrow)
    if bits is not None:
        quantizer = qnn_module.qnn.QuantIdentity(
            act_quant=qnn_module._activation_quantizer(signed, self.power_of_two_scaling),
            bit_width=bits,
            collect_stats_steps=qnn_module.ACTIVATION_STATS_STEPS,
            signed=signed,
            narrow_range=narrow,
            return_quant_tensor=True,
        )
    return quantizer


def build_layers(self):
    original_build_layers(self)
    formats = self._layer_input_formats()
    self.input_quant = make_quantizer(self, *formats[0], bits=input_bits)
    self.activation_quants = torch.nn.ModuleList(make_quantizer(self, *f, bits=hidden_bits) for f in formats[1:])


qnn_module.SparseQuantNeuralNetwork._build_layers = build_layers
score(f"in{input_bits}_hidden{hidden_bits}", datasets, seeds, out, params,
      extra=lambda model, X_test: {"input_bits": input_bits, "hidden_bits": hidden_bits})
