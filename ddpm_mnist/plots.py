"""Figures: sample grids, the noising process, study plots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from .io import atomic_write


def grid(images: torch.Tensor | np.ndarray, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """uint8 images (N, 28, 28) or (N, 1, 28, 28) -> one uint8 picture (H, W) with ``nrow`` per row."""
    x = torch.as_tensor(np.asarray(images))
    if x.dtype != torch.uint8:
        raise TypeError(f"grid expects uint8 images, got {x.dtype}")
    x = x[:, None] if x.dim() == 3 else x
    return make_grid(x, nrow=nrow, padding=padding, pad_value=255)[0].numpy()


def save_grid(path: str | os.PathLike, images: torch.Tensor | np.ndarray, nrow: int = 10) -> Path:
    """Write a PNG grid of uint8 images, atomically."""
    picture = torch.from_numpy(grid(images, nrow)).float().div(255)
    return atomic_write(path, lambda tmp: save_image(picture, tmp, format="png"))
