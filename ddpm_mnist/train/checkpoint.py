"""Checkpoint files: how a trained denoiser (:class:`~ddpm_mnist.core.spec.DenoiserSpec`) is saved and loaded.

A checkpoint is one ``torch.save`` file written atomically: the spec (enough to rebuild the
network and its sampler), the weights, the EMA weights if any, and the training state
needed to resume (optimizer, step, random generator, losses so far).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..core.spec import DenoiserSpec
from ..io import save_torch

FORMAT = "ddpm-mnist/checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable, not ours, or does not match what it is loaded into."""


def save(path: str | os.PathLike, spec: DenoiserSpec, model: torch.nn.Module, **state: Any) -> Path:
    """Atomically write a checkpoint: ``spec``, the weights of ``model`` and any training ``state``."""
    payload = {"format": FORMAT, "version": VERSION, "spec": spec.to_dict(), "state_dict": model.state_dict(), **state}
    return save_torch(path, payload)


def read(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file, checking that it is one; raises :class:`CheckpointError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # truncated zip, pickle garbage, ...
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}: {exc}); delete it and retrain") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ddpm-mnist checkpoint (no '{FORMAT}' header)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}, this code reads version {VERSION}")
    return payload


def load_weights(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict`` with an error that says which checkpoint did not fit."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {source} does not match the model: {exc}") from None


def denoiser_from(payload: dict[str, Any], ema: bool = True, device: str | torch.device = "cpu", source: str = "checkpoint") -> tuple[torch.nn.Module, DenoiserSpec]:
    """Rebuild the network of a checkpoint read by :func:`read`, in eval mode: with the EMA weights
    if ``ema`` and present, else the evaluation weights of a schedule-free run if present
    (its averaged iterate), else the trained weights."""
    spec = DenoiserSpec.from_dict(payload["spec"])
    model = spec.build()
    if ema and payload.get("ema_state_dict"):
        weights = payload["ema_state_dict"]
    else:
        weights = payload.get("eval_state_dict") or payload["state_dict"]
    load_weights(model, weights, source)
    return model.to(device).eval(), spec


def load_denoiser(path: str | os.PathLike, ema: bool = True, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, DenoiserSpec]:
    """Rebuild the network saved at ``path`` (with its EMA weights if ``ema`` and present), in eval mode."""
    return denoiser_from(read(path), ema, device, str(path))

