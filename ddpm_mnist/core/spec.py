"""What a denoiser is: :class:`DenoiserSpec`, the network, its schedule, loss and data range.

A spec is enough to rebuild the network (:meth:`DenoiserSpec.build`) and to sample from it
(:meth:`DenoiserSpec.alpha_bar`, :attr:`DenoiserSpec.target`); checkpoints store it as a dict
(:meth:`DenoiserSpec.to_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from . import diffusion, losses, models, ranges, schedules


@dataclass(frozen=True)
class DenoiserSpec:
    """Everything that fixes what a network computes and how it is sampled.

    ``model``/``model_options``: see :func:`~ddpm_mnist.core.models.build_model`; ``schedule`` and
    ``T``: see :func:`~ddpm_mnist.core.schedules.alpha_bar`; ``loss``: see
    :data:`~ddpm_mnist.core.losses.LOSSES`; ``value_range``: see :data:`~ddpm_mnist.core.ranges.RANGES`.
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
        ranges.check_range(self.value_range)

    def build(self) -> torch.nn.Module:
        """The network; for the ``edm`` target it sees :math:`c_\\text{in}x_t` (Karras et al., 2022)."""
        net = models.build_model(self.model, T=self.T, **self.model_options)
        if self.target == "edm":
            return models.InputScaled(net, diffusion.edm_coefficients(self.alpha_bar())[0])
        return net

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
