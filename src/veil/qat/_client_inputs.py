"""What the client computes in clear: normalized features and folded ones before quantizing, output scaling.

Folded inputs: each normalized feature also enters as its distance from the centre.

A network of a few bits per input learns a threshold on a feature cheaply, and a band around its centre
(``|z| < t``, what radial or U-shaped effects need) only with two neurons spent on it. The client can hand
it ``|z|`` for nothing: it computes the folded features in clear, before quantizing, so under encryption a
folded network costs the same lookups (its first layer reads twice the inputs, within the same accumulator
budget). Each folded feature is normalized again with training statistics, so that it uses the whole
signed input grid instead of its positive half. Measurements: docs/decisions/folded-inputs.md.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["FoldedInputs", "as_row", "normalization_rows"]


def as_row(values, size: int) -> torch.Tensor:
    """``values`` as a float32 tensor of shape ``(size,)``."""
    return torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(size)


def normalization_rows(offset, scale, size: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``offset``, ``scale`` as float32 rows of ``size``; ``ValueError`` unless finite and ``scale`` > 0."""
    offset, scale = as_row(offset, size), as_row(scale, size)
    if not (torch.isfinite(offset).all() and torch.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"{what} needs finite offsets and positive finite scales")
    return offset, scale


class FoldedInputs(nn.Module):
    """``z -> [z, (|z| - offset) / scale]`` along the last axis: ``2 * n_features`` outputs.

    Parameters
    ----------
    n_features : int
        Features of ``z`` (already normalized).

    Examples
    --------
    >>> fold = FoldedInputs(2)
    >>> fold.set_statistics([1.0, 0.0], [0.5, 1.0])
    >>> fold(torch.tensor([[-2.0, 3.0]])).tolist()
    [[-2.0, 3.0, 2.0, 3.0]]
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("offset", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def set_statistics(self, offset, scale) -> None:
        """Set the normalization of the folded features (``scale`` positive and finite)."""
        offset, scale = normalization_rows(
            offset, scale, len(self.offset), "the folded inputs' normalization"
        )
        with torch.no_grad():
            self.offset.copy_(offset)
            self.scale.copy_(scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, (z.abs() - self.offset) / self.scale], dim=-1)
