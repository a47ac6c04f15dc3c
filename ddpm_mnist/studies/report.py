"""The report's configurations, studies and FIDs, transcribed as data.

Sections refer to the report ("A Diffusion Approach to Image Generation", IASD 2023). Its FIDs
were computed with InceptionV3 features on an unstated number of samples; ours use the
feature extractor and sample count of the profile, so the two columns are comparable in
ordering, not in value.

Two things the report leaves open and how we read them:

* the number of noising steps of its baselines is not stated; we use T = 15, the value its
  own T study selects (section 4.3.5). With it, every study's selected value equals the
  baseline's, so the report's baseline U-Net and its tuned U-Net are the same configuration;
* the channels study lists ``(62, 128, 256)``; we read it as the evident typo for
  ``(64, 128, 256)`` (62 does not fit the progression, nor GroupNorm's 8 groups).
"""

from __future__ import annotations

from ..core.losses import REPORT_LOSSES
from ..core.schedules import REPORT_SCHEDULES
from .config import RunConfig
from .study import Study, label

UNET = RunConfig()
"""Section 4.3's baseline U-Net: batch 256, 50 epochs, x-prev-l2, 10 convolutions, channels
(32, 64, 128), linear-noise, [-1, 1] (and T = 15, see above)."""

DENSE = RunConfig(model="dense", model_options={}, epochs=2000)
"""Section 4.1: batch 256, 2000 epochs, x-prev-l2, linear-noise, [-1, 1]."""

CONV = RunConfig(model="conv", model_options={"n_convs": 4, "channels": 4}, epochs=2000)
"""Section 4.2: as the dense model, with 4 convolutions of 4 channels."""

REPORT_CONFIGS = {"dense": DENSE, "conv": CONV, "unet": UNET}


def _study(name, section, title, param, values, fids, choice) -> Study:
    configs = REPORT_CONFIGS if param is None else None
    return Study(name, section, title, param, tuple(values), {label(v): f for v, f in zip(values, fids)}, choice, configs=configs)


STUDIES: dict[str, Study] = {
    s.name: s
    for s in [
        # the report prints no FID for its U-Net baseline (4.3); 10.9 is its tuned U-Net's (4.3.7), another configuration
        _study("models", "4.1-4.3", "Dense, convolutional and U-Net denoisers", None, ["dense", "conv", "unet"], [34.2, 14.1, None], "unet"),
        _study("batch-size", "4.3.1", "Batch size", "batch_size", [32, 64, 128, 256, 512, 1024, 2048],
               [26.4, 27.3, 27.5, 21.4, 42.2, 41.5, 54.7], 256),
        _study("epochs", "4.3.2", "Number of epochs", "epochs", [1, 5, 10, 25, 50, 100, 200, 1000],
               [197.6, 78.1, 31.2, 17.6, 12.6, 13.3, 15.1, 10.9], 50),
        _study("loss", "4.3.3", "Loss function", "loss", list(REPORT_LOSSES), [24.2, 20.0, 13.3, 13.3, 339.3, 338.5], "x-prev-l2"),
        _study("channels", "4.3.4", "Sequence of channels", "model_options.channels",
               [(8, 16, 32), (16, 32, 64), (32, 64, 128), (64, 128, 256)], [30.9, 13.5, 13.3, 14.9], (32, 64, 128)),
        _study("noising-steps", "4.3.5", "Number of noising steps", "T", [1, 5, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000],
               [117.1, 14.5, 16.6, 11.9, 15.1, 20.8, 18.0, 27.1, 35.8, 118.0, 171.4, 447.9], 15),
        _study("noising-process", "4.3.6", "Noising process", "schedule", list(REPORT_SCHEDULES), [14.7, 18.6, 18.0, 13.5], "linear-noise"),
        _study("normalization", "4.3.7", "Normalization range", "value_range", ["[0,255]", "[0,1]", "[-1,1]"], [220.3, 74.8, 10.9], "[-1,1]"),
    ]
}
"""The report's seven sequential U-Net studies (4.3.1-4.3.7) and its model comparison."""

