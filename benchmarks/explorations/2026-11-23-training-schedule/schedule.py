"""Simulated accuracy against the float MLP of the same width (defaults, 50 epochs) with a learning-rate
schedule added to the default callbacks.

Usage (from the repository root, PYTHONPATH=.):
    schedule.py <variant> <datasets> <seeds> <out.jsonl> [json params]

Variants (epochs are 0-based, 50 in all; the accumulator budget closes at epoch 30):
    cosine        lr * (1 + cos(pi * epoch / 50)) / 2 over the whole run
    hold_cosine   lr until epoch 30, then a cosine from lr to 0 over the last 20 epochs
    hold_tenth    lr until epoch 30, then lr / 10
    hold_cosine_weights   hold_cosine for the weights and biases only; the quantizers' learned
                  log-scales keep lr to the end
    scales_first  hold_cosine for the weights; the learned scales' cosine runs twice as fast (from
                  epoch 30 to 0 at epoch 40), so the weights spend the last 10 epochs on final scales
    scales_freeze_late    hold_cosine for the weights; the learned scales keep lr until epoch 45, then 0

The library's own decay callback (a default since this exploration) is switched off, so every variant
runs on the schedule it names.
"""
import json
import math
import sys
from pathlib import Path

from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import LambdaLR

# The train-compile-score loop is the previous exploration's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "2026-11-22-quantizer-widths"))
from scoring import score  # noqa: E402

EPOCHS, BUDGET_CLOSED = 50, 30


def cosine(epoch):
    return (1 + math.cos(math.pi * epoch / EPOCHS)) / 2


def hold_cosine(epoch):
    if epoch < BUDGET_CLOSED:
        return 1.0
    return (1 + math.cos(math.pi * (epoch - BUDGET_CLOSED) / (EPOCHS - BUDGET_CLOSED))) / 2


def hold_tenth(epoch):
    return 1.0 if epoch < BUDGET_CLOSED else 0.1


def constant(epoch):
    return 1.0


def twice_as_fast(epoch):
    return hold_cosine(BUDGET_CLOSED + 2 * (epoch - BUDGET_CLOSED)) if epoch < EPOCHS - 10 else 0.0


def until_45(epoch):
    return 1.0 if epoch < 45 else 0.0


SCALE_FACTORS = {"hold_cosine_weights": constant, "scales_first": twice_as_fast, "scales_freeze_late": until_45}


FACTORS = {"cosine": cosine, "hold_cosine": hold_cosine, "hold_tenth": hold_tenth}

variant = sys.argv[1]
datasets, seeds, out = sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
params = {"callbacks__lr_decay": None, **(json.loads(sys.argv[5]) if len(sys.argv) > 5 else {})}
if variant in SCALE_FACTORS:
    # skorch puts the matched group first and every other parameter in a last group.
    params = {"optimizer__param_groups": [("*scaling_impl*", {})], **params}
    factors = [SCALE_FACTORS[variant], hold_cosine]
else:
    factors = FACTORS[variant]
callback = ("lr_schedule", LRScheduler(policy=LambdaLR, lr_lambda=factors, step_every="epoch"))
score(variant, datasets, seeds, out, params, callbacks=[callback])
