"""The configuration of one run: every hyperparameter and budget field, with a stable hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .. import data
from ..core.ranges import check_range
from ..core.sampling import SAMPLERS, get_sampler
from ..core.spec import DenoiserSpec
from ..eval import metrics
from ..train.protocol import check_protocol, horizon_free


HASH_OPTIONAL: frozenset[str] = frozenset({
    "dataset", "p_uncond", "guidance", "sample_seed", "optimizer", "lr_schedule", "warmup_steps", "ema_warmup", "use_ema",
    "ddim_clip",
})
"""Fields added after results were first published: omitted from the hash at their default.
Every field added to :class:`RunConfig` from now on goes here."""


SAMPLING_FIELDS = (
    "sampler", "variance", "ddim_steps", "ddim_eta", "ddim_clip", "guidance", "sample_seed", "n_samples", "fid_features",
    "fid_reference", "use_ema",
)
"""Fields that change how a trained network is sampled and scored, not the network."""


SAMPLER_OPTION_FIELDS = {"variance": "variance", "steps": "ddim_steps", "eta": "ddim_eta", "clip": "ddim_clip"}
"""The :class:`RunConfig` field that holds each option of a registered sampler
(:data:`~ddpm_mnist.core.sampling.SAMPLERS`); ``ddim_clip`` (a flag) becomes the range of ``value_range``."""


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run. Defaults: the report's U-Net baseline (its section 4.3) at the
    report's full budget (60k images, 50 epochs, 10,000 samples scored)."""

    # the denoiser
    model: str = "unet"
    model_options: dict[str, Any] = field(default_factory=lambda: {"channels": (32, 64, 128), "n_convs": 10})
    T: int = 15
    schedule: str = "linear-noise"
    loss: str = "x-prev-l2"
    value_range: str = "[-1,1]"
    # optimisation (the protocol: see ddpm_mnist.train.protocol)
    batch_size: int = 256
    epochs: float = 50
    lr: float = 1e-3  # the peak learning rate; the report gives none
    grad_clip: float | None = 1.0
    optimizer: str = "adamw"  # or "schedulefree"
    lr_schedule: str = "constant"  # or "cosine", "linear" (decay to 0 at the last step)
    warmup_steps: int = 0  # linear warm-up of the learning rate
    ema_decay: float | None = None
    ema_warmup: bool = False  # EMA decay min(ema_decay, (1+n)/(10+n))
    train_subset: int | None = None  # None: all 60,000 training images
    dataset: str = "mnist"  # or "fashion-mnist" (beyond the report)
    p_uncond: float = 0.1  # class-conditional models: probability of training without the label
    # sampling and scoring
    sampler: str = "ancestral"  # a name of ddpm_mnist.core.sampling.SAMPLERS
    variance: str = "report"  # ancestral: "report" (the report's section 2.3), "beta" or "beta-tilde"
    ddim_steps: int | None = None
    ddim_eta: float = 0.0
    ddim_clip: bool = False  # DDIM: clamp the predicted x0 to the data range
    guidance: float = 0.0  # class-conditional models: classifier-free guidance scale w
    n_samples: int = 10_000
    fid_features: str = "mnist-cnn"
    fid_reference: str = "test"
    seed: int = 0
    sample_seed: int | None = None  # the sampler's noise seed; None: ``seed``
    use_ema: bool = True  # sample with the EMA weights when the run keeps them (False: the trained weights)

    @property
    def sampling_seed(self) -> int:
        """The seed of the sampler's noise: ``sample_seed``, else the run's ``seed``."""
        return self.seed if self.sample_seed is None else self.sample_seed

    @property
    def evaluations(self) -> int:
        """Network evaluations per sample (without guidance): DDIM's step count (all T by default), else T."""
        return SAMPLERS[self.sampler].evaluations(self.T, self.sampler_options)

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", float(self.epochs))  # 50 and 50.0 must hash alike
        self.spec  # validates model, schedule, loss and range names
        get_sampler(self.sampler)
        check_protocol(self.optimizer, self.lr_schedule, self.warmup_steps)
        data.check_dataset(self.dataset)
        if self.guidance and not self.spec.num_classes:
            raise ValueError(f"guidance={self.guidance} needs a class-conditional model (model_options num_classes > 0)")
        if self.fid_features not in metrics.EXTRACTORS:
            raise ValueError(f"unknown FID features {self.fid_features!r}; valid: {', '.join(metrics.EXTRACTORS)}")

    @property
    def horizon_free(self) -> bool:
        """Whether a shorter run of this config is a prefix of it (see :func:`~ddpm_mnist.train.protocol.horizon_free`)."""
        return horizon_free(self.optimizer, self.lr_schedule)

    @property
    def sampler_options(self) -> dict[str, Any]:
        """The options of this run's sampler (``variance``; ``steps`` and ``eta``), from their fields."""
        options = {o: getattr(self, SAMPLER_OPTION_FIELDS[o]) for o in SAMPLERS[self.sampler].options}
        if "clip" in options:
            options["clip"] = check_range(self.value_range) if options["clip"] else None
        return options

    @property
    def spec(self) -> DenoiserSpec:
        return DenoiserSpec(self.model, dict(self.model_options), self.T, self.schedule, self.loss, self.value_range)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_options"] = self.spec.to_dict()["model_options"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in d["model_options"].items()}
        return cls(**{**d, "model_options": opts})

    def hash(self) -> str:
        """Stable 12-hex-digit name of this config (the same in every process and session).

        Fields in :data:`HASH_OPTIONAL` are left out while they hold their default, so that
        adding a field later does not rename the results stored before it."""
        return self._hash(exclude=())

    def train_hash(self) -> str:
        """Like :meth:`hash`, over the fields that affect training only: configs that differ
        only in how they sample or score share one trained network."""
        return self._hash(exclude=SAMPLING_FIELDS)

    def _hash(self, exclude: tuple[str, ...]) -> str:
        d = self.to_dict()
        for f in dataclasses.fields(self):
            if f.name in exclude or (f.name in HASH_OPTIONAL and getattr(self, f.name) == _default(f)):
                del d[f.name]
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def with_param(self, param: str, value: Any) -> RunConfig:
        """A copy with ``param`` set to ``value``; ``model_options.X`` sets one model option."""
        if param.startswith("model_options."):
            key = param.split(".", 1)[1]
            return dataclasses.replace(self, model_options={**self.model_options, key: value})
        if param not in {f.name for f in dataclasses.fields(self)}:
            names = ", ".join(f.name for f in dataclasses.fields(self))
            raise ValueError(f"RunConfig has no field {param!r}; fields: {names} (or model_options.<option>)")
        return dataclasses.replace(self, **{param: value})
