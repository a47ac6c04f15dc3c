"""Which runs the book's chapters need, and in what order: the seed rule.

Every value of a study gets seed 0; the seed rule gives seeds 1 and 2 as well to every value
that one seed cannot tell from the report's choice or that may beat it (:func:`contenders`,
:func:`rule_values`), since a verdict needs at least three seeds on both sides of every
comparison it makes; the report's choice is the baseline, which has its three seeds. :data:`CHAPTER_RUNS`
and :data:`BEYOND_RUNS` list what the chapters show; :func:`run_order` is the order in which
``scripts/run_profile.py`` computes it, and :func:`missing` what is still to compute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import runner
from .beyond import BEYOND
from .profiles import get_profile, results_dir_for
from .protocol import CANDIDATES, PROTOCOL_SEEDS
from .registry import get_study
from .study import Study

TUNED_EPOCHS = [50, 1000]
"""The tuned U-Net (book/tuned.md): the report's final configuration at the epochs of its figure 8
(50) and of its best FID (1000); at the ``cpu`` profile 3 and 12 (the cap) epochs."""

RULE_SEEDS = [0, 1, 2]
"""The seeds of the seed rule: every value gets the first; a value that one seed cannot tell from
the report's choice, or that may beat it (:func:`rule_values`), gets all three."""

RULE_STUDIES = ("epochs", "loss", "noising-process", "normalization", "channels", "batch-size", "noising-steps")
"""The report's studies that the seed rule applies to (the model comparison differs by far more
than the spread)."""


def default_seeds(profile: str) -> list[int]:
    """A study chapter's seeds: :data:`RULE_SEEDS`, except one seed in the smoke profile."""
    return [0] if profile == "smoke" else list(RULE_SEEDS)


def seed_spread(profile: str, results_dir: str | Path | None = None) -> float:
    """The baseline U-Net's FID standard deviation over its seeds (NaN until two are stored)."""
    return float(tuned_row(profile, results_dir)["fid_std"])


def tuned_row(profile: str, results_dir: str | Path | None = None) -> pd.Series:
    """The tuned U-Net's row (the baseline over its seeds) of the model comparison."""
    prof = get_profile(profile)
    results_dir = results_dir_for(profile, results_dir)
    return runner.tabulate(get_study("models"), prof, RULE_SEEDS, results_dir, ["unet"]).iloc[0]


def contenders(table: pd.DataFrame, spread: float, choice: str, choice_fid: float, choice_seeds: int) -> list[str]:
    """Values of a first-seed study table (its order) that need more seeds under the ``choice``
    rule: every value other than the report's ``choice`` whose one-seed FID is below the choice's
    mean (``choice_fid`` over ``choice_seeds`` seeds) plus the half-width of a 95% interval of a
    one-seed-against-``choice_seeds`` difference, 1.96 s sqrt(1 + 1/n) with ``spread``
    the seed SD s: the values one seed cannot tell from the choice, and those that may
    beat it. Values without a result, or scored on blank images only (``nonfinite_fraction`` = 1),
    are left out; nothing is a contender while ``spread`` or ``choice_fid`` is NaN."""
    done = table[table["fid_mean"].notna() & (table["value"] != choice)]
    if "nonfinite_fraction" in done:
        done = done[~(done["nonfinite_fraction"] >= 1)]
    if np.isnan(spread) or np.isnan(choice_fid) or choice_seeds < 1:
        return []
    margin = 1.96 * spread * np.sqrt(1 + 1 / choice_seeds)
    return [v for v, f in zip(done["value"], done["fid_mean"]) if f < choice_fid + margin]


def rule_values(st: Study, first: pd.DataFrame, profile: str, results_dir: str | Path | None = None) -> list:
    """The values of study ``st`` that the seed rule gives seeds 1 and 2, from its first-seed table
    ``first`` (:func:`ddpm_mnist.studies.runner.tabulate`): its :func:`contenders` against the
    baseline's mean and seed spread (:func:`tuned_row`), in the study's order."""
    baseline = tuned_row(profile, results_dir)
    close = set(contenders(first, float(baseline["fid_std"]), st.label(st.report_choice), float(baseline["fid_mean"]),
                           int(baseline["n_seeds"])))
    return [v for v in st.values if st.label(v) in close]


def seed_rule_text() -> str:
    """What the seed rule gives seeds 1 and 2 to, as the book says it (after "every value gets
    seed 0;")."""
    return ("the report's choice is the baseline, which has its own seeds, and every value whose one-seed FID "
            "is below the choice's mean plus the half-width of a 95% interval of a one-seed-against-n difference, "
            "1.96 s \u221a(1 + 1/n) with s the baseline's seed spread, gets seeds 1 and 2 as well "
            "(`plan.contenders`): the values one seed cannot tell from the choice, and those that may beat it")


def extra_seed_runs(profile: str, results_dir: str | Path | None = None,
                    studies: Sequence[str] = RULE_STUDIES) -> list[tuple[str, list, list[int]]]:
    """(study, values, seeds) that the seed rule asks for at ``profile``, from the stored
    first-seed results of ``studies`` (among :data:`RULE_STUDIES`) and the baseline's
    (:func:`rule_values`; for ``scripts/run_profile.py``, after a study's first seeds; stored runs
    among them are skipped there)."""
    prof = get_profile(profile)
    out = []
    for name in (n for n in RULE_STUDIES if n in studies):
        st = get_study(name)
        table = runner.tabulate(st, prof, RULE_SEEDS[:1], results_dir_for(profile, results_dir))
        out += [(name, batch, RULE_SEEDS[1:]) for batch in rule_batches(st, rule_values(st, table, profile, results_dir))]
    return out


def rule_batches(st: Study, values: list) -> list[list]:
    """The further seeds' values of a rule study, in the batches they are trained in: all at once,
    except in the epochs study, one at a time from the shortest, so that each of a seed's runs
    continues its last shorter one (:func:`ddpm_mnist.studies.runner.shorter_checkpoint`) and lands
    on its own."""
    if not values:
        return []
    return [[v] for v in values] if st.param == "epochs" else [values]



def _protocol_runs() -> list[tuple[str, list, list[int]]]:
    groups: dict[str, list[str]] = {}
    for name, config in CANDIDATES.items():  # candidates that share a training run, in the study's order
        groups.setdefault(config.train_hash(), []).append(name)
    return [("protocol", names, [seed]) for seed in PROTOCOL_SEEDS for names in groups.values()]


PROTOCOL_RUNS = _protocol_runs()
"""The protocol study (:mod:`ddpm_mnist.studies.protocol`), first in the runner's order since every
other result depends on its choice: one training protocol at a time, seed by seed, each seed's
network scored under each of its candidates right after it is trained (its checkpoint is not
committed, so a new machine would have to train it again). Not yet among the runs whose results the
tests require: the study is being computed, and its chapter shows the seeds stored so far."""


CHAPTER_RUNS: list[tuple[str, list | None, list[int]]] = [
    ("models", ["unet"], RULE_SEEDS),
    ("epochs", None, [0]),
    ("epochs", TUNED_EPOCHS, [1, 2]),
    ("sampler", None, [0]),
    ("sampler", None, [1, 2]),
    ("fid-noise", None, [0]),
    ("sampler-baseline", None, RULE_SEEDS),
    ("models", ["dense", "conv"], [0]),
    ("loss", None, [0]),
    ("noising-process", None, [0]),
    ("normalization", None, [0]),
    ("channels", None, [0]),
    ("batch-size", None, [0]),
    ("noising-steps", None, [0]),
]
"""(study, values or None for all, seeds) that the chapters show, in the order
``scripts/run_profile.py`` computes them: the U-Net baseline over three seeds (the yardstick
of seed noise), the epochs study (whose longest run is the tuned U-Net's first seed), the
tuned U-Net's other seeds (each continues its seed's shorter runs, see
:func:`ddpm_mnist.studies.runner.shorter_checkpoint`; the seed rule usually asks for them
already), the tuned U-Net under the three sampler variances and eight other sampling seeds,
the baseline's three seeds under the three variances (all sampling only), the cheap dense and
convolutional models, then the other studies (with :data:`BEYOND_RUNS` after
:data:`BEYOND_AFTER`). The runner follows each study of
:data:`RULE_STUDIES` with the further seeds that the rule asks for, so that chapters complete
one after the other."""

EMA_LENGTHS = list(BEYOND["ema"].values)

BEYOND_RUNS: list[tuple[str, list | None, list[int]]] = [
    *[(name, None, [0]) for name in ("eps-fixes", "fewer-steps", "guidance", "fashion")],
    ("eps-fixes", ["v-l2"], RULE_SEEDS[1:]),
    *[("ema", [length], [0]) for length in EMA_LENGTHS],
    ("eps-fixes", ["x0-l2"], RULE_SEEDS[1:]),
]
"""The runs of the part "Beyond the report" (:data:`ddpm_mnist.studies.beyond.BEYOND`): one seed each,
and the rule's further seeds for the fixes of the ε losses that beat the report's loss by more
than twice the baseline's seed spread on their first seed (``book/beyond-eps.md``): v-prediction
before the EMA trajectory, the longest item (a four-times-longer training run), since the
conclusion rests on it; x0-prediction, level with it on seed 0, after. The EMA trajectory is
computed one length at a time from the shortest, each continuing the last
(:func:`ddpm_mnist.studies.runner.shorter_checkpoint`), so that each length lands as soon as it
is trained: a two-hour process that ends with the session would otherwise leave nothing."""

BEYOND_RULE_SEEDS: list[tuple[str, list | None, list[int]]] = [
    ("fewer-steps", None, RULE_SEEDS[1:]),
    *[("ema", [length], RULE_SEEDS[1:]) for length in EMA_LENGTHS],
]
"""Seeds 1 and 2 of the part beyond the report's sampler and averaging studies: DDIM with and
without clipping its predicted :math:`x_0`, and the EMA with its decay warmed up, are measured
on three seeds before the book draws a conclusion from them. The runner computes them last
(:func:`run_order`): about seven hours on one core, which would otherwise hold back the first
seeds of the report's own studies, whose verdicts the book is built on."""

ALL_BEYOND_RUNS = BEYOND_RUNS + BEYOND_RULE_SEEDS
"""Every run of the part beyond the report: :data:`BEYOND_RUNS` and :data:`BEYOND_RULE_SEEDS`."""


BEYOND_AFTER = "loss"
"""The study after which the runner computes :data:`BEYOND_RUNS`, before the report's remaining
studies: the part beyond the report needs only the tuned U-Net (complete by then) and takes
about four hours on two CPU cores, where the remaining studies with their rule seeds take
about a day; computing it first finishes that part days sooner and delays the rest by hours."""


def beyond_seeds(name: str, profile: str) -> list[int]:
    """The seeds a chapter beyond the report shows for study ``name``: every seed the runner
    computes for it (:data:`ALL_BEYOND_RUNS`; seed 0 alone where it computes no more),
    seed 0 alone in the smoke profile."""
    if profile == "smoke":
        return [0]
    return sorted({0, *(s for study, _, seeds in ALL_BEYOND_RUNS if study == name for s in seeds)})


def run_order(profile: str, results_dir: str | Path | None = None) -> Iterator[tuple[str, list | None, list[int]]]:
    """Every (study, values or None for all, seeds) that the chapters show, in the order
    ``scripts/run_profile.py`` computes them: :data:`PROTOCOL_RUNS`, :data:`CHAPTER_RUNS`, each study of
    :data:`RULE_STUDIES` followed by the further seeds the rule asks for (:func:`extra_seed_runs`),
    with :data:`BEYOND_RUNS` after the study :data:`BEYOND_AFTER` and :data:`BEYOND_RULE_SEEDS`
    at the end. A generator: the rule reads a study's first-seed
    results when the runner has stored them, i.e. when the next item is asked for."""
    yield from PROTOCOL_RUNS
    for entry in CHAPTER_RUNS:
        yield entry
        if entry[0] in RULE_STUDIES and entry[2] == RULE_SEEDS[:1]:
            yield from extra_seed_runs(profile, results_dir, studies=[entry[0]])
        if entry[0] == BEYOND_AFTER:
            yield from BEYOND_RUNS
    yield from BEYOND_RULE_SEEDS


def missing(profile: str, results_dir: str | Path | None = None) -> pd.DataFrame:
    """The cells the chapters show (:func:`run_order`, with the seeds the rule asks for so far)
    that have no stored result at ``profile``: study, value, seed and config hash, in the
    runner's order."""
    prof = get_profile(profile)
    results_dir = results_dir_for(profile, results_dir)
    rows, seen = [], set()
    for name, values, seeds in run_order(profile, results_dir):
        st = get_study(name)
        for value, seed, config in runner.study_configs(st, prof, seeds, values):
            if config.hash() in seen:
                continue
            seen.add(config.hash())
            try:
                done = runner.load_result(config, results_dir) is not None
            except runner.CorruptResultError:
                done = False
            if not done:
                rows.append({"study": name, "value": st.label(value), "seed": seed, "hash": config.hash()})
    return pd.DataFrame(rows, columns=["study", "value", "seed", "hash"])


def run_study(name: str, profile: str, seeds: Sequence[int], results_dir: str | Path | None = None, device: str = "auto",
              values: Sequence[Any] | None = None, train_missing: bool | None = None) -> pd.DataFrame:
    """:func:`ddpm_mnist.studies.runner.study`, quiet in the smoke profile; the table holds every
    stored result of ``seeds``.

    ``train_missing`` None: train missing runs except at a profile whose results are computed in
    the background and committed (:attr:`~ddpm_mnist.studies.profiles.Profile.background`: the
    ``cpu`` profile; the book never trains there, and a missing cell shows as "—"). For the
    studies of :data:`RULE_STUDIES` the first seed is trained for every value and the others
    only for the values that :func:`rule_values` picks."""
    if train_missing is None:
        train_missing = not get_profile(profile).background
    kw = dict(results_dir=results_dir, device=device, progress=profile != "smoke")
    if not train_missing:
        return runner.tabulate(get_study(name), get_profile(profile), seeds, results_dir_for(profile, results_dir), values)
    if name not in RULE_STUDIES or len(seeds) < 2:
        return runner.study(name, profile, seeds=seeds, values=values, **kw)
    runner.study("models", profile, seeds=RULE_SEEDS, values=["unet"], **kw)  # the spread the rule needs
    first = runner.study(name, profile, seeds=seeds[:1], values=values, **kw)
    st = get_study(name)
    for batch in rule_batches(st, rule_values(st, first, profile, results_dir)):
        runner.study(name, profile, seeds=seeds[1:], values=batch, **kw)
    return runner.tabulate(st, get_profile(profile), seeds, results_dir_for(profile, results_dir), values)
