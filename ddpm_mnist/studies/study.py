"""A study: one table of the report, or of the part beyond it, as data.

A :class:`Study` varies one :class:`~ddpm_mnist.studies.config.RunConfig` field of a base
configuration (or picks among named configurations); the runner, the seed rule and the book
treat every study alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import RunConfig


def label(value: Any) -> str:
    """How a studied value is shown and keyed: ``(32, 64, 128)``, ``256``, ``x-prev-l2``."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Study:
    """One table of the report: ``param`` of ``base`` takes each of ``values``.

    ``param`` is a :class:`RunConfig` field (or ``model_options.X``); ``None`` means each value
    names a whole configuration, in ``configs`` (the model comparison, the beyond part's configurations).
    ``base`` defaults to :class:`RunConfig`'s defaults, the report's U-Net baseline."""

    name: str
    section: str
    title: str
    param: str | None
    values: tuple[Any, ...]
    report_fid: dict[str, float | None]
    report_choice: Any
    base: RunConfig = field(default_factory=RunConfig)
    configs: dict[str, RunConfig] | None = None  # param None: the configuration of each value
    fixed_protocol: bool = False  # its values are optimisation protocols: a profile's protocol does not apply

    def config_for(self, value: Any) -> RunConfig:
        if self.param is None:
            return self.configs[value]
        return self.base.with_param(self.param, value)

    def label(self, value: Any) -> str:
        return label(value)
