"""What a trained denoiser is (:class:`DenoiserSpec`) and how it is saved and loaded.

A checkpoint is one ``torch.save`` file written atomically: the spec (enough to rebuild the
network and its sampler), the weights, the EMA weights if any, and the training state
needed to resume (optimizer, step, random generator, losses so far).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import data, losses, models, schedules
from .io import save_torch

FORMAT = "ddpm-mnist/checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable, not ours, or does not match what it is loaded into."""


@dataclass(frozen=True)
class DenoiserSpec:
    """Everything that fixes what a network computes and how it is sampled.

    ``model``/``model_options``: see :func:`ddpm_mnist.models.build_model`; ``schedule`` and
    ``T``: see :func:`ddpm_mnist.schedules.alpha_bar`; ``loss``: see
    :data:`ddpm_mnist.losses.LOSSES`; ``value_range``: see :data:`ddpm_mnist.data.RANGES`.
    """

    model: str = "unet"
    model_options: dict[str, Any] = field(default_factory=dict)
    T: int = 15
    schedule: str = "linear-noise"
    loss: str = "x-prev-l2"
    value_range: str = "[-1,1]"

    def __post_init__(self) -> None:
        models.model_options(self.model)  # validates the names
        schedules.alpha_bar(self.schedule, self.T)
        losses.get_loss(self.loss)
        data.check_range(self.value_range)

    def build(self) -> torch.nn.Module:
        return models.build_model(self.model, T=self.T, **self.model_options)

    def alpha_bar(self) -> torch.Tensor:
        return schedules.alpha_bar(self.schedule, self.T)

    @property
    def num_classes(self) -> int:
        """Number of classes of a class-conditional network, 0 for an unconditional one."""
        return int(self.model_options.get("num_classes", 0))

    @property
    def target(self) -> str:
        return losses.get_loss(self.loss).target

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.model_options.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DenoiserSpec:
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in d.get("model_options", {}).items()}
        return cls(**{**d, "model_options": opts})


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
    """Rebuild the network of a checkpoint read by :func:`read` (EMA weights if ``ema`` and present), in eval mode."""
    spec = DenoiserSpec.from_dict(payload["spec"])
    model = spec.build()
    weights = payload.get("ema_state_dict") if ema and payload.get("ema_state_dict") else payload["state_dict"]
    load_weights(model, weights, source)
    return model.to(device).eval(), spec


def load_denoiser(path: str | os.PathLike, ema: bool = True, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, DenoiserSpec]:
    """Rebuild the network saved at ``path`` (with its EMA weights if ``ema`` and present), in eval mode."""
    return denoiser_from(read(path), ema, device, str(path))

