"""Budgets: the same chapter at three sizes.

A profile rewrites the budget fields of a :class:`~ddpm_mnist.studies.config.RunConfig` (epochs,
training-set size, samples scored) and leaves every other hyperparameter as the report set it.

``smoke``
    CI, nbval and tests: 128 training images, a step or two of training, 8 samples scored.
    Numbers are meaningless; every code path is real.
``cpu``
    The published book, computed on 2-core CPUs whose kind changes from one session to the
    next (AVX2-only, AVX-512 BF16, AMX), under the training protocol that the protocol study
    chose (:data:`CPU_PROTOCOL`). Its training path is pinned to fp32 eager
    (:attr:`Profile.precision`, :attr:`Profile.compile`): bf16 is native on some of those
    machines and emulated (about 10x slower) on the others, so only fp32 lets any of them
    continue a study on the study's one numerical path (each result records its path;
    ``tests/test_results.py`` checks that a study does not mix them). All 60,000
    training images, the report's epochs scaled by 0.06 and capped at 12 epochs, and 1,000
    samples scored with the ``mnist-cnn`` extractor.

    Why this budget: the report's studies need about 32 distinct U-Net trainings, which were
    to fit in about twelve hours; the seed rule's further seeds (``plan.RULE_SEEDS``) come on
    top (``compute.compute_time`` counts what was spent). At 0.06 the report's 50-epoch
    baseline sees 3 epochs = 180k images (about 23 minutes), and the study total is about
    six million images (about 13 hours with sampling). The epochs study is one run to the cap (12 epochs, 720k images;
    the report's 200 and 1000 epochs both map to the cap and are marked so). 1,000 samples
    keep the sampling cost of the T = 1000 run under half an hour; FIDs on 1,000 samples
    are biased upwards against those on 10,000, so they are compared only with each other.
``paper``
    The report's settings: all 60,000 images, its epochs and batch sizes, 10,000 samples.

A profile may also fix the optimisation protocol of its runs (:attr:`Profile.protocol`, see
:func:`with_protocol`): fields such as the EMA or the sampler's variance, which the report does
not study, set for every run except where a study varies them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import RunConfig
from .study import Study

ENV_PROFILE = "DDPM_PROFILE"
ENV_RESULTS = "DDPM_RESULTS_DIR"
PRECISIONS = ("float32", "bfloat16")


def results_root() -> Path:
    """Where results live: ``$DDPM_RESULTS_DIR``, else the repository's ``results/`` (editable
    installs), else ``./results``."""
    if os.environ.get(ENV_RESULTS):
        return Path(os.environ[ENV_RESULTS])
    repo = Path(__file__).resolve().parents[2]
    return repo / "results" if (repo / "pyproject.toml").exists() else Path("results")


CPU_PROTOCOL: dict[str, Any] = {"optimizer": "schedulefree", "lr": 2e-3, "warmup_steps": 35, "variance": "beta",
                                 "ema_warmup": True}
"""The protocol of the ``cpu`` profile, chosen by the protocol study (``book/protocol.md``:
the best-trained candidate among those whose seed SD of FID meets the floor): schedule-free AdamW
(Defazio et al., 2024) at lr 2e-3 after 35 warm-up steps, its averaged iterate sampled, and Ho
et al.'s σ² = β_t. A study that averages the weights (the EMA chapter) warms its decay up."""

_PUBLISHED = RunConfig()


def with_protocol(config: RunConfig, protocol: dict[str, Any], keep: str | None = None) -> RunConfig:
    """``config`` with the fields of ``protocol`` set, except ``keep`` (the field a study varies)
    and fields ``config`` already sets to something other than :class:`RunConfig`'s default (a
    study's explicit choice, e.g. Ho et al.'s σ² = β_t at T = 100, or the EMA chapter's decay).
    ``ema_warmup`` applies only to a config that averages its weights (``ema_decay`` set, by the
    config or the protocol): it says how an EMA is run, not that there is one."""
    changes = {k: v for k, v in protocol.items() if k != keep and getattr(config, k) == getattr(_PUBLISHED, k)}
    if changes.get("ema_decay", config.ema_decay) is None:
        changes.pop("ema_warmup", None)
    return dataclasses.replace(config, **changes) if changes else config


def results_dir_for(profile: str, results_dir: str | Path | None = None) -> Path:
    """``results_dir`` when given, else the profile's folder under :func:`results_root`."""
    return Path(results_dir) if results_dir is not None else get_profile(profile).results_dir


@dataclass(frozen=True)
class Profile:
    name: str
    epoch_scale: float
    max_epochs: float | None
    train_subset: int | None
    n_samples: int
    description: str
    precision: str | None = None
    """The training precision every run of the profile uses, "float32" or "bfloat16" (autocast);
    None: the machine's fastest (:func:`~ddpm_mnist.train.fastpath.default_train_path`)."""
    compile: bool | None = None
    """Whether training compiles the network: None lets :func:`~ddpm_mnist.train.training.train`
    decide (CUDA, or a CPU where the cached probe says it pays); False or True pins it."""
    protocol: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Protocol fields every run of the profile takes (:func:`with_protocol`); empty: each config's own."""
    background: bool = False
    """Whether the profile's results are computed in the background (``scripts/run_profile.py``)
    and committed: a chapter built at such a profile loads what is stored and never trains (a
    missing cell shows as "—"), so building it is quick and never competes with the runners."""

    def __post_init__(self):
        if self.precision not in (None, *PRECISIONS):
            raise ValueError(f"profile {self.name!r}: precision {self.precision!r} is not one of {PRECISIONS} (or None)")

    @property
    def amp(self) -> bool | None:
        """The ``amp`` argument of :func:`~ddpm_mnist.train.training.train` for this profile."""
        return None if self.precision is None else self.precision == "bfloat16"

    def epochs(self, report_epochs: float) -> float:
        e = report_epochs * self.epoch_scale
        return min(e, self.max_epochs) if self.max_epochs is not None else e

    def apply(self, config: RunConfig, keep: str | None = None) -> RunConfig:
        """``config`` at this profile's budget and under its protocol (except the field ``keep``)."""
        budget = dataclasses.replace(config, epochs=self.epochs(config.epochs), train_subset=self.train_subset,
                                     n_samples=self.n_samples)
        return with_protocol(budget, self.protocol, keep)

    def study_config(self, study: Study, value: Any) -> RunConfig:
        """The config of ``value`` of ``study`` at this profile: its budget, and its protocol except
        in the field the study varies (none for a study whose values are protocols)."""
        config = study.config_for(value)
        if study.fixed_protocol:
            return dataclasses.replace(config, epochs=self.epochs(config.epochs), train_subset=self.train_subset,
                                       n_samples=self.n_samples)
        return self.apply(config, keep=study.param)

    def capped(self, report_epochs: float) -> bool:
        """Whether ``report_epochs`` hits this profile's cap (several values then share a run)."""
        return self.max_epochs is not None and report_epochs * self.epoch_scale > self.max_epochs

    @property
    def results_dir(self) -> Path:
        return results_root() / self.name


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", 0.002, 2, 128, 8, "CI: seconds per chapter; numbers meaningless"),
    "cpu": Profile("cpu", 0.06, 12, None, 1000, "the published book, computed on 2 CPU cores", precision="float32",
                   compile=False, protocol=CPU_PROTOCOL, background=True),
    "paper": Profile("paper", 1.0, None, None, 10_000, "the report's budget: full data, its epochs, 10,000 samples"),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile ``name``; None reads ``$DDPM_PROFILE`` (default ``cpu``)."""
    name = name or os.environ.get(ENV_PROFILE, "cpu")
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}") from None
