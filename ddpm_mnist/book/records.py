"""What stored results record of how they were computed, in words: the protocol, the sampler's
variance, the numerical path (precision, compile) and the provenance line under each table; and
what keeps a set of results from being published (uncommitted code, mixed numerical paths)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..studies import runner
from ..studies.config import RunConfig
from ..studies.profiles import get_profile


def provenance(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None) -> str:
    """One line saying how the numbers of a study were obtained."""
    prof = get_profile(profile)
    results = [r for rs in runner.study_results(name, profile, seeds, results_dir).values() for r in rs]
    if not results:
        return f"profile {profile}: no results yet"
    devices = sorted({x["device_name"] for x in results})
    versions = sorted({x["code_version"] for x in results})
    scoring = sorted({(x["metrics"]["features"], x["metrics"]["n_samples"], x["config"].get("dataset", "mnist"), x["metrics"]["reference"])
                      for x in results})
    fids = "; ".join(f"`{f}` features on {n:,} samples against the {'MNIST' if d == 'mnist' else 'Fashion-MNIST'} {ref} set"
                     for f, n, d, ref in scoring)
    found = sorted({x["seed"] for x in results})
    paths: dict[str, int] = {}
    for x in results:
        paths[numerical_path(x)] = paths.get(numerical_path(x), 0) + 1
    path_text = "; ".join(f"{p}: {n} run{'s' if n > 1 else ''}" for p, n in sorted(paths.items(), key=lambda kv: -kv[1]))
    protocols = "; ".join(sorted({protocol_text(x["config"], sampler=False) for x in results}))
    variances = sorted({variance_text(x["config"]) for x in results if sampler_of(x["config"]) == "ancestral"})
    if variances:
        every = all(sampler_of(x["config"]) == "ancestral" for x in results)
        protocols += (", " if every else "; the ancestral rows sample with ") + " / ".join(variances)
    return (f"Profile `{prof.name}` ({prof.description}); seeds {', '.join(map(str, found))} (the seeds column counts those of each row); "
            f"protocol {protocols}; trained on {', '.join(devices)} (numerical path {path_text}); FID in {fids}; "
            f"code {', '.join(versions)}.")


def _with_defaults(config: dict) -> dict:
    """A stored config with the fields absent from older results at their defaults."""
    return {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING} | config


def sampler_of(config: dict) -> str:
    """The sampler a stored config used ("ancestral", "ddim")."""
    return _with_defaults(config)["sampler"]


def variance_text(config: dict) -> str:
    """The ancestral sampler's variance in words: "σ² = β_t", "σ² = β̃_t", "σ² = β_(t-1) (the report's)"."""
    return {"report": "σ² = β_(t-1) (the report's)", "beta": "σ² = β_t", "beta-tilde": "σ² = β̃_t"}[_with_defaults(config)["variance"]]


def protocol_text(config: dict, sampler: bool = True) -> str:
    """A stored config's optimisation protocol in words, e.g. "AdamW, lr 1e-3 constant, gradients
    clipped at norm 1, EMA 0.999 (warm-up), σ² = β_t" (the ancestral sampler's variance last,
    unless ``sampler`` is false); fields absent from older results take their defaults."""
    c = _with_defaults(config)
    parts = ["schedule-free AdamW" if c["optimizer"] == "schedulefree" else "AdamW"]
    schedule = "" if c["optimizer"] == "schedulefree" else f" {c['lr_schedule']}"
    parts.append(f"lr {c['lr']:g}{schedule}" + (f" after {c['warmup_steps']} warm-up steps" if c["warmup_steps"] else ""))
    parts.append(f"gradients clipped at norm {c['grad_clip']:g}" if c["grad_clip"] else "no gradient clipping")
    if c["ema_decay"] and c.get("use_ema", True):
        parts.append(f"EMA {c['ema_decay']:g}" + (" (warm-up)" if c["ema_warmup"] else ""))
    if sampler and c["sampler"] == "ancestral":
        parts.append(variance_text(c))
    return ", ".join(parts)


def numerical_path(result: dict) -> str:
    """How a stored result's network was trained, in words: its precision (the steps' dtypes, or
    "precision not recorded") and whether ``torch.compile`` ran, e.g. "float32, eager", then the
    sampling precision where it is not float32 (", sampled in bfloat16")."""
    steps = result["train"].get("precision_steps") or {"unrecorded": 1}
    names = {"unrecorded": "precision not recorded", "bfloat16": "bfloat16 autocast"}
    precision = " + ".join(sorted(names.get(k, k) for k in steps))
    compiled = (result["train"].get("numerics") or {}).get("compile")
    sampled = (result.get("metrics", {}).get("sampling_path") or {}).get("precision", "float32")
    return (f"{precision}, {'compiled' if compiled else 'eager' if compiled is not None else 'compile not recorded'}"
            + ("" if sampled == "float32" else f", sampled in {sampled}"))


def provenance_problems(results: Sequence[dict]) -> list[str]:
    """What keeps a set of stored results (one study's) from being published: a result computed
    from uncommitted code (``.dirty`` in its code version) or not recording its numerical path,
    or the set mixing numerical paths (:func:`numerical_path`). Empty when clean."""
    problems = [f"{r['hash']} (seed {r['seed']}) was computed from uncommitted code ({r['code_version']})"
                for r in results if r["code_version"].endswith(".dirty")]
    problems += [f"{r['hash']} (seed {r['seed']}) does not record its numerical path ({numerical_path(r)})"
                 for r in results if "not recorded" in numerical_path(r)]
    paths = sorted({numerical_path(r) for r in results})
    if len(paths) > 1:
        problems.append(f"the study mixes numerical paths: {'; '.join(paths)}")
    return problems
