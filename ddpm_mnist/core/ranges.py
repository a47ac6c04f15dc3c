"""The report's normalization ranges (its section 4.3.7) and the maps between them and uint8 pixels.

Images are float tensors of shape ``(N, C, 28, 28)`` in one of ``"[0,255]"``, ``"[0,1]"`` or
``"[-1,1]"``; :func:`normalize` maps uint8 pixels into a range and :func:`to_uint8` back.
"""

from __future__ import annotations

import torch

RANGES: dict[str, tuple[float, float]] = {
    "[0,255]": (0.0, 255.0),
    "[0,1]": (0.0, 1.0),
    "[-1,1]": (-1.0, 1.0),
}
"""Normalization ranges by name: (low, high) of the pixel values."""


def check_range(name: str) -> tuple[float, float]:
    """Return ``(low, high)`` of a normalization range, or raise listing the valid names."""
    try:
        return RANGES[name]
    except KeyError:
        raise ValueError(f"unknown normalization range {name!r}; valid ranges: {', '.join(RANGES)}") from None


def normalize(images_uint8: torch.Tensor, value_range: str) -> torch.Tensor:
    """Map uint8 pixels ``[0, 255]`` to float32 in ``value_range`` (same shape)."""
    low, high = check_range(value_range)
    return images_uint8.float() / 255.0 * (high - low) + low


def to_uint8(images: torch.Tensor, value_range: str) -> torch.Tensor:
    """Inverse of :func:`normalize`: float images in ``value_range`` to uint8 ``[0, 255]``.

    Values outside the range are clamped; non-finite values (a diverged sampler) become 0.
    """
    low, high = check_range(value_range)
    x = torch.nan_to_num(images.detach().float().cpu(), nan=low, posinf=high, neginf=low)
    x = (x.clamp(low, high) - low) / (high - low) * 255.0
    return x.round().to(torch.uint8)
