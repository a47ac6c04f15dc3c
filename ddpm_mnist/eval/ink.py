"""How much ink an image carries, and where: plain measures that say what a grid of failed samples
looks like (speckle over the frame, a blob at its centre, an almost empty frame) without a
feature space in between."""

from __future__ import annotations

import torch


def _frames(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, 1, H, W) in [0, 255] as floats (N, H, W) in [0, 1]."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images in [0, 255], got {images.dtype}; convert with eval.metrics.as_uint8")
    if images.dim() == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.dim() != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got {tuple(images.shape)}")
    return images.float() / 255


def ink(images: torch.Tensor) -> torch.Tensor:
    """Total intensity of each image in pixels' worth of full ink: uint8 ``images`` (N, H, W) or
    (N, 1, H, W) in [0, 255] -> (N,) floats in [0, H·W] (an MNIST test digit carries about 100 of 784)."""
    return _frames(images).sum((1, 2))


def centre_share(images: torch.Tensor, size: int = 14) -> torch.Tensor:
    """Fraction of each image's ink inside its central ``size`` × ``size`` square: uint8 ``images``
    (N, H, W) or (N, 1, H, W) -> (N,) in [0, 1]; ink spread evenly gives size²/(H·W) (a quarter
    for 14 of 28), a centred digit much more; NaN for a blank image."""
    x = _frames(images)
    h, w = x.shape[1:]
    if not 0 < size <= min(h, w):
        raise ValueError(f"size must be between 1 and {min(h, w)}, got {size}")
    top, left = (h - size) // 2, (w - size) // 2
    inner = x[:, top:top + size, left:left + size].sum((1, 2))
    total = x.sum((1, 2))
    return torch.where(total > 0, inner / total.clamp_min(1e-12), torch.full_like(total, float("nan")))


def saturated_share(images: torch.Tensor, level: int = 250) -> torch.Tensor:
    """Fraction of each image's pixels at full ink (at least ``level`` of 255): uint8 ``images``
    (N, H, W) or (N, 1, H, W) -> (N,) in [0, 1]; an MNIST digit has about a tenth, a sample that
    a sampler has driven to saturation much more."""
    return (_frames(images) >= level / 255).float().mean((1, 2))
