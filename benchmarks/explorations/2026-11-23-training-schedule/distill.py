"""Simulated accuracy against the float MLP of the same width (defaults, 50 epochs) when the quantized
network also learns the float MLP's softened probabilities (knowledge distillation).

Usage (from the repository root, PYTHONPATH=.):
    distill.py <alpha> <temperature> <datasets> <seeds> <out.jsonl> [json params]

The teacher is the float MLP `fit_benchmark` compares against (same width, seed and training setup, so
the same model). The loss is (1 - alpha) * cross-entropy on the labels + alpha * T^2 * KL(teacher_T ||
student_T), with both distributions softened by the temperature T.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scoring import score
from sklearn.neural_network import MLPClassifier

from veil.sklearn import NeuralNetClassifier

alpha, temperature = float(sys.argv[1]), float(sys.argv[2])
datasets, seeds, out = sys.argv[3].split(","), sys.argv[4].split(","), sys.argv[5]
params = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}


class DistillationLoss(torch.nn.Module):
    """Targets are rows of [label, teacher probabilities at temperature T]."""

    def forward(self, logits, target):
        labels, teacher = target[:, 0].long(), target[:, 1:]
        hard = F.cross_entropy(logits, labels)
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), teacher, reduction="batchmean")
        return (1 - alpha) * hard + alpha * temperature**2 * soft


def train(self, net, X, y_train, **fit_params):
    width = net.module_.n_hidden_neurons
    teacher = MLPClassifier(
        hidden_layer_sizes=(width,) * (self.module__n_layers - 1), alpha=0.0, learning_rate_init=self.lr,
        max_iter=self.max_epochs, batch_size=self.batch_size, random_state=self.random_state,
    ).fit(X, y_train)
    log_p = np.log(np.clip(teacher.predict_proba(X), 1e-12, 1)) / temperature
    soft = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    net.set_params(criterion=DistillationLoss)
    net.initialize_criterion()
    net.partial_fit(X, np.column_stack([y_train, soft]).astype(np.float32), **fit_params)
    self.on_train_end(net, X, y_train)


NeuralNetClassifier._train = train
score(f"distill_a{alpha}_T{temperature}", datasets, seeds, out, params,
      extra=lambda model, X_test: {"alpha": alpha, "temperature": temperature})
