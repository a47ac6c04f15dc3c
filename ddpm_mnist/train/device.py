"""Where and at what precision a network runs: the device and the autocast dtype."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device; use --device cpu or auto")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype that speeds up training on ``device``, or None for plain fp32.

    CUDA: bfloat16. CPU: bfloat16 only where oneDNN has native bf16 kernels (AVX-512 BF16 /
    AMX), where it trains the baseline U-Net about twice as fast as fp32; on AVX2-only CPUs, such
    as the machine most ``cpu`` results were trained on, bf16 convolutions are emulated and run
    about 10x slower than fp32 (``benchmarks/train_throughput.py``).
    """
    if device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None
