"""Recipes: named presets of the network, the training protocol and the sampler.

A recipe fills in every option a user leaves unset (``ddpm-mnist train --recipe fast``); an
option given explicitly wins. The checkpoint keeps the recipe's sampler, so that
``ddpm-mnist sample`` draws with it by default.

``fast`` is the starting point measured in issue 28 (ten minutes of training on two CPU
cores, mnist-cnn FID about 8 on 1,000 samples): v-prediction with Nichol & Dhariwal's cosine
schedule over T = 1000 steps, which keeps :math:`\\bar\\alpha_T > 0` so that the v target is
well defined at every step, the report's U-Net (32, 64, 128), batch 64, an EMA of the weights
(0.995, with its decay warmed up) and DDIM with 50 steps. The search for a better preset at
equal wall-clock is the book's chapter "Ten minutes on a CPU"; until it lands, ``fast`` is this
starting point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """``spec``: :class:`~ddpm_mnist.core.spec.DenoiserSpec` fields; ``train``: keyword arguments
    of :func:`~ddpm_mnist.train.training.train`; ``sampling``: the sampler's name and options."""

    name: str
    description: str
    spec: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)


START = Recipe(
    "start",
    "v-prediction, cosine-nichol schedule, T = 1000, U-Net (32, 64, 128), batch 64, EMA 0.995 with warm-up, DDIM 50 steps",
    spec={"model": "unet", "model_options": {"channels": (32, 64, 128), "n_convs": 10}, "T": 1000,
          "schedule": "cosine-nichol", "loss": "v-l2"},
    train={"batch_size": 64, "lr": 1e-3, "ema_decay": 0.995, "ema_warmup": True},
    sampling={"sampler": "ddim", "options": {"steps": 50, "eta": 0.0}},
)
"""Issue 28's starting point, which the search of the chapter "Ten minutes on a CPU" changes one
option at a time (:data:`ddpm_mnist.studies.timed.CANDIDATES`); fixed, so that the search's rows
keep their meaning when ``fast`` moves on."""

RECIPES: dict[str, Recipe] = {
    "fast": Recipe("fast", START.description, START.spec, START.train, START.sampling),
}
"""The named presets: ``fast`` is :data:`START` until the search has chosen its successor."""


def get_recipe(name: str) -> Recipe:
    """The recipe ``name``; a ``ValueError`` lists the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; valid recipes: {', '.join(RECIPES)}") from None
