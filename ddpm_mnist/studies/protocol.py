"""The protocol study: which optimiser, learning-rate schedule and weight averaging make the
baseline U-Net's seeds agree at the ``cpu`` budget (``book/protocol.md``).

At 702 AdamW steps with a constant learning rate, the protocol the book was first published
with, the baseline's three seeds scored 75, 122 and 93 (mnist-cnn FID): too far apart to rank
most of the report's choices.
Each candidate below is the report's baseline U-Net (:data:`~ddpm_mnist.studies.report.UNET`, batch
256, 50 report epochs = 3 at ``cpu``) trained under another protocol, over
:data:`PROTOCOL_SEEDS`. Candidates that differ only in how a trained network is sampled (the raw or
the averaged weights, the sampler's variance) share one training run per seed
(:meth:`~ddpm_mnist.studies.config.RunConfig.train_hash`): an EMA is tracked in every run of a
training protocol and ``use_ema`` picks the weights.
"""

from __future__ import annotations

from .config import RunConfig
from .report import UNET
from .study import Study

PROTOCOL_SEEDS = (0, 1, 2, 3, 4)
"""Five seeds per candidate: the spread of five is the issue's yardstick (its SD at most 6 FID)."""

EMA = 0.999
"""The EMA decay's cap; with the warm-up min(d, (1+n)/(10+n)) it averages roughly the last n/9
steps of a run of n < 9,000 steps (about 80 of the baseline's 702)."""

WARMUP_STEPS = 35
"""5% of the baseline's 702 steps at the ``cpu`` profile."""

_TRACKED = UNET.with_param("ema_decay", EMA).with_param("ema_warmup", True)
CONSTANT = _TRACKED.with_param("use_ema", False)
CONSTANT_EMA = _TRACKED
COSINE_EMA = _TRACKED.with_param("lr", 2e-3).with_param("lr_schedule", "cosine").with_param("warmup_steps", WARMUP_STEPS)
SCHEDULE_FREE = UNET.with_param("optimizer", "schedulefree").with_param("lr", 2e-3).with_param("warmup_steps", WARMUP_STEPS)

CANDIDATES: dict[str, RunConfig] = {
    "constant 1e-3 (previous)": CONSTANT,
    "constant 1e-3, EMA": CONSTANT_EMA,
    "constant 1e-3, EMA, σ² = β_t": CONSTANT_EMA.with_param("variance", "beta"),
    "warm-up, cosine 2e-3, EMA": COSINE_EMA,
    "warm-up, cosine 2e-3, EMA, σ² = β_t": COSINE_EMA.with_param("variance", "beta"),
    "schedule-free 2e-3": SCHEDULE_FREE,
    "schedule-free 2e-3, σ² = β_t": SCHEDULE_FREE.with_param("variance", "beta"),
}
"""The candidates, by label; the first is the book's previous protocol (its EMA tracked, not used)."""

PROTOCOL = Study("protocol", "protocol", "The training protocol: seed spread at equal compute", None, tuple(CANDIDATES), {},
                 "constant 1e-3 (previous)", configs=CANDIDATES, fixed_protocol=True)
