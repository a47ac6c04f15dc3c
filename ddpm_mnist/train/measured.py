"""Speed measurements of this machine, taken once and cached.

The fast path picks between alternatives that give the same numbers up to rounding (compile or
not, channels-last or NCHW) by timing them. A timing is noisy: two runs of the same study that
timed again could choose differently, and under bf16 a different layout rounds differently, so
the same run would not give the same numbers twice. A measurement is therefore taken once per
machine and kept under a key of everything it depends on (torch, threads, CPU capability, and
what the caller names: network, path, batch), in ``<cache>/<name>-probe.json``
(:func:`~ddpm_mnist.data.cache_dir`); every later run on the machine reads it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import cache_dir
from ..io import write_json


def describe_machine() -> dict:
    """What a result's numbers depend on besides its path: threads and CPU capability."""
    return {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())}


def machine_key(what: dict) -> str:
    """``what`` was measured on, with torch's version and :func:`describe_machine`, hashed (16 hex digits)."""
    keyed = {"torch": torch.__version__, **describe_machine(), **what}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def probe_file(name: str) -> Path:
    """Where the measurements called ``name`` are kept."""
    return cache_dir() / f"{name}-probe.json"


def measured_once(name: str, key: str, measure: Callable[[], dict]) -> dict:
    """The measurement kept under ``key`` in ``name``'s file, or ``measure()`` (a dict of plain
    values) taken now, stamped with the time it was taken, and kept (written atomically)."""
    kept = _read(name)
    if key in kept:
        return kept[key]
    value = {**measure(), "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json(probe_file(name), {**_read(name), key: value})
    return value


def _read(name: str) -> dict:
    try:
        return json.loads(probe_file(name).read_text())
    except (OSError, ValueError):
        return {}
