"""Prototype: after training, choose each power-of-two quantizer scale by the training loss.

A learned log-scale at a rounding boundary flips its power-of-two scale from step to step (see the
README), and the weights end up trained for both values. Here, once training is over, each input or
activation quantizer in turn tries its scale halved, as is and doubled (the log-scale parameter -1, 0,
+1), and keeps the one with the lowest loss on the training rows; the mid-rise shift follows the input
scale. Nothing changes during training.

Usage (repository root, PYTHONPATH=.): choose_scales.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys

import numpy as np
import torch
from scoring import score
from skorch.callbacks import Callback


datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
CHOICES = []


class ChooseScales(Callback):
    def on_train_end(self, net, X=None, y=None, **kwargs):
        module = net.module_.eval()
        rows = torch.as_tensor(np.asarray(X, dtype=np.float32))
        targets = torch.as_tensor(np.asarray(y))

        def set_shift():
            if module.mid_rise_inputs:
                scale = module._quantized_input(module.input_quant, module.input_dim).scale
                module.input_shift.fill_(0.5 * float(scale.reshape(-1)[0]))

        def loss():
            set_shift()
            with torch.no_grad():
                return float(net.criterion_(module(rows), targets))

        chosen = []
        for name, parameter in module.named_parameters():
            if "scaling_impl" not in name:
                continue
            start = float(parameter)
            losses = {}
            for delta in (-1.0, 0.0, 1.0):
                with torch.no_grad():
                    parameter.fill_(start + delta)
                losses[delta] = loss()
            best = min(losses, key=lambda d: (losses[d], abs(d)))
            with torch.no_grad():
                parameter.fill_(start + best)
            chosen.append((name.split(".")[0], best, round(losses[0.0], 4), round(losses[best], 4)))
        set_shift()
        CHOICES.append(chosen)
        module.train()


score("choose_scales", datasets, seeds, out, params, callbacks=[ChooseScales()],
      extra=lambda model, X_test: {"choices": CHOICES[-1]})
