"""Simulated accuracy against the float MLP of the same width (defaults, 50 epochs) with a learning-rate
schedule added to the default callbacks.

Usage (from the repository root, PYTHONPATH=.):
    schedule.py <variant> <datasets> <seeds> <out.jsonl> [json params]

Variants (epochs are 0-based, 50 in all; the accumulator budget closes at epoch 30):
    cosine        lr * (1 + cos(pi * epoch / 50)) / 2 over the whole run
    hold_cosine   lr until epoch 30, then a cosine from lr to 0 over the last 20 epochs
    hold_tenth    lr until epoch 30, then lr / 10
"""
import json
import math
import sys

from scoring import score
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import LambdaLR

EPOCHS, BUDGET_CLOSED = 50, 30


def cosine(epoch):
    return (1 + math.cos(math.pi * epoch / EPOCHS)) / 2


def hold_cosine(epoch):
    if epoch < BUDGET_CLOSED:
        return 1.0
    return (1 + math.cos(math.pi * (epoch - BUDGET_CLOSED) / (EPOCHS - BUDGET_CLOSED))) / 2


def hold_tenth(epoch):
    return 1.0 if epoch < BUDGET_CLOSED else 0.1


FACTORS = {"cosine": cosine, "hold_cosine": hold_cosine, "hold_tenth": hold_tenth}

variant = sys.argv[1]
datasets, seeds, out = sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
params = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
callback = ("lr_schedule", LRScheduler(policy=LambdaLR, lr_lambda=FACTORS[variant], step_every="epoch"))
score(variant, datasets, seeds, out, params, callbacks=[callback])
