"""Prototype: stop learning the input and activation scales at a fraction of the epochs.

With power-of-two scales, a learned log-scale that sits at a rounding boundary flips the scale between
two powers of two from one step to the next. Whichever side the last optimizer step leaves it on is the
model that gets exported, while the weights were trained on both. On circles, seed 4, the last step
moved the input scale's parameter from +0.03 to -0.0002: the input step went from 0.5 to 0.25 and the
model's training accuracy from 95% to 58%. Freezing the scales for the last epochs makes the exported
model the one the last epochs trained.

Usage (repository root, PYTHONPATH=.): freeze_scales.py <fraction> <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys

from scoring import score
from skorch.callbacks import Callback


fraction = float(sys.argv[1])
datasets, seeds, out = sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
params = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}


class FreezeScales(Callback):
    def __init__(self, fraction):
        self.fraction = fraction

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) - 1 >= round(self.fraction * net.max_epochs):
            for name, parameter in net.module_.named_parameters():
                if "scaling_impl" in name:
                    parameter.requires_grad_(False)


score(f"freeze_scales_{fraction}", datasets, seeds, out, params, callbacks=[FreezeScales(fraction)])
