r"""The experiments of the book's part "Beyond the report", as studies of the tuned U-Net.

Each is a :class:`~ddpm_mnist.studies.study.Study`, so the runner, the tables and the chapters of the
report's studies serve them unchanged. All start from the report's tuned configuration
(:data:`TUNED`, at the report's 50 epochs: 3 at the ``cpu`` profile) and change one thing:

``eps-fixes``
    the report's ε losses fail because its schedules reach :math:`\bar\alpha_T = 0`, where
    the ε-to-mean formula divides by zero; three fixes: a schedule with
    :math:`\bar\alpha_T > 0` (``cosine-nichol``), predicting :math:`v` or :math:`x_0`.
``fewer-steps``
    a network trained with T = 100 steps of Ho et al.'s schedule (``linear-beta``, ε loss),
    sampled by the ancestral sampler (100 network evaluations) and by DDIM (η = 0 and 1) with
    10 to 100, with and without clipping its predicted :math:`x_0` to the data range.
``ema``
    the epochs study with an exponential moving average of the weights (decay 0.995); the
    raw weights of that run are exactly those of the epochs study, so the two tables are
    "with and without EMA" along one training trajectory.
``guidance``
    a class-conditional U-Net (labels dropped 10% of the time in training) sampled with
    classifier-free guidance scales 0 to 4.
``fashion``
    the tuned configuration on Fashion-MNIST, scored in the ``fashion-cnn`` feature space.
``sampler``
    the tuned U-Net's longest run (the report's 1000 epochs) sampled with the report's
    :math:`\sigma_t^2 = \beta_{t-1}`, Ho et al.'s :math:`\beta_t` and the posterior
    :math:`\tilde\beta_t`: sampling only, one trained network (shown in ``book/tuned.md``).
``sampler-baseline``
    the same three variances on the baseline U-Net's three seeds (the report's 50 epochs, 3 at
    the ``cpu`` profile): how much of the spread between seeds is the sampler's (sampling
    only; shown in ``book/tuned.md``).
``fid-noise``
    that network again, sampled with eight other seeds: how much one FID on the profile's
    sample count moves when only the sampler's noise changes (shown in ``book/evaluation.md``).
"""

from __future__ import annotations

from .config import RunConfig
from .report import UNET
from .study import Study

TUNED = UNET
"""The report's tuned U-Net (see ``book/tuned.md``): the baseline configuration."""

HO = TUNED.with_param("T", 100).with_param("schedule", "linear-beta").with_param("loss", "epsilon-l2").with_param("variance", "beta")
"""Ho et al.'s recipe at T = 100: linear β from 1e-4 to 0.02 (rescaled to 100 steps), ε loss, σ² = β."""

EMA_DECAY = 0.995

DDIM_STEPS = (10, 20, 50, 100)
GUIDANCE_SCALES = (0.0, 0.5, 1.0, 2.0, 4.0)
SAMPLE_SEEDS = tuple(range(1, 9))


def _ddim(steps: int, eta: float, clip: bool = False) -> RunConfig:
    config = HO.with_param("sampler", "ddim").with_param("ddim_steps", steps).with_param("ddim_eta", eta)
    return config.with_param("ddim_clip", True) if clip else config


def _study(name: str, title: str, param: str | None, values, base: RunConfig = TUNED, configs=None) -> Study:
    return Study(name, "beyond", title, param, tuple(values), {}, None, base=base, configs=configs)


EPS_FIXES = {
    "x-prev-l2 (tuned)": TUNED,
    "epsilon-l2 (report)": TUNED.with_param("loss", "epsilon-l2"),
    "epsilon-l2, cosine-nichol": TUNED.with_param("loss", "epsilon-l2").with_param("schedule", "cosine-nichol"),
    "v-l2": TUNED.with_param("loss", "v-l2"),
    "x0-l2": TUNED.with_param("loss", "x0-l2"),
}

FEWER_STEPS = {
    "ancestral, 100 steps": HO,
    **{f"DDIM eta={eta:g}, {k} steps": _ddim(k, eta) for eta in (0.0, 1.0) for k in DDIM_STEPS},
    **{f"DDIM eta={eta:g}, {k} steps, clipped": _ddim(k, eta, clip=True) for eta in (0.0, 1.0) for k in DDIM_STEPS},
}

FASHION = {
    "MNIST (tuned)": TUNED,
    "Fashion-MNIST": TUNED.with_param("dataset", "fashion-mnist").with_param("fid_features", "fashion-cnn"),
}

BEYOND: dict[str, Study] = {
    s.name: s
    for s in [
        _study("eps-fixes", "Fixing the ε losses", None, EPS_FIXES, configs=EPS_FIXES),
        _study("fewer-steps", "Sampling with fewer steps", None, FEWER_STEPS, configs=FEWER_STEPS),
        _study("ema", "EMA of the weights", "epochs", (1, 5, 10, 25, 50, 100, 200, 1000), base=TUNED.with_param("ema_decay", EMA_DECAY)),
        _study("guidance", "Labels as inputs: classifier-free guidance", "guidance", GUIDANCE_SCALES,
               base=TUNED.with_param("model_options.num_classes", 10)),
        _study("fashion", "A new data set: Fashion-MNIST", None, FASHION, configs=FASHION),
        _study("sampler", "The sampler's variance", "variance", ("report", "beta", "beta-tilde"), base=TUNED.with_param("epochs", 1000)),
        _study("sampler-baseline", "The sampler's variance on the baseline's three seeds", "variance",
               ("report", "beta", "beta-tilde"), base=TUNED),
        _study("fid-noise", "The FID's own noise: one network, eight sampling seeds", "sample_seed", SAMPLE_SEEDS,
               base=TUNED.with_param("epochs", 1000)),
    ]
}
"""The studies of the part "Beyond the report", by name."""
