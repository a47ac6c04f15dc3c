"""Where an FID close to the baseline's could hide worse samples: among the stored runs of the
report's studies, the one furthest off the digits (lowest precision without more recall) and the
one most crowded onto a few digits (highest class KL), with the metrics measured alike for all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..studies import runner
from ..studies.plan import RULE_SEEDS
from ..studies.report import STUDIES
from .analysis import named_value


QUALITY = ("precision", "recall", "class_kl")


def comparable_quality(results: Sequence[dict]) -> tuple[list[dict[str, float]], bool, int]:
    """Precision, recall and class KL of each stored result, measured the same way for all: the
    metrics the results store (on all their scored samples) when every one has them; otherwise
    :func:`ddpm_mnist.eval.metrics.quality_row` of the samples stored with each (100 at the
    ``cpu`` profile), so that results that predate the stored metrics compare too. Returns the
    dicts (``QUALITY`` keys), whether the stored metrics were used and the samples per result."""
    from ..eval import metrics

    if not results:
        return [], True, 0
    stored = all(all(k in r["metrics"] for k in QUALITY) for r in results)
    if stored:
        return [{k: r["metrics"][k] for k in QUALITY} for r in results], True, results[0]["metrics"]["n_samples"]
    measured = [metrics.quality_row(torch.as_tensor(np.asarray(r["samples"]))[:, None]) for r in results]
    return [{k: q[k] for k in QUALITY} for q in measured], False, len(results[0]["samples"])


PRECISION_MARGIN = 0.1
"""How much lower a precision must be than another's before the book says fewer samples are digits
(:func:`fid_blind_spots`, :func:`blind_spot_text`, ``book/noising-steps.md``)."""

BLIND_SPOT_MARGIN = 1.5
""":func:`fid_blind_spots` looks among the runs whose FID is at most this many times the baseline's."""


def fid_blind_spots(profile: str, results_dir: str | Path | None = None, margin: float = BLIND_SPOT_MARGIN) -> pd.DataFrame:
    """Where an FID close to the baseline's hides worse samples, among the stored runs of the
    report's U-Net studies (every stored seed of :data:`~ddpm_mnist.studies.plan.RULE_SEEDS`, each run once) that score an
    FID of at most ``margin`` times the baseline's (seed 0). Three rows: the baseline itself;
    ``off the digits``, the lowest precision among the runs that do not buy it back in recall
    (recall no higher than the baseline's: a run that trades precision for variety is not one
    the FID misjudges); ``crowded``, the highest class KL among the runs whose samples are
    digits (precision at least the baseline's less :data:`PRECISION_MARGIN`). The metrics are
    :func:`comparable_quality`'s. Columns: ``case``, ``run``, ``stored FID``, ``precision``, ``recall``, ``class_kl``; a
    case with no candidate is left out; the attributes ``candidates`` (how many runs were
    searched), ``stored`` (whether the stored metrics were used) and ``samples`` (how many
    samples per run the metrics saw). Empty without a baseline."""
    columns = ["case", "run", "stored FID", "precision", "recall", "class_kl"]
    base = runner.study_results("models", profile, [0], results_dir, ["unet"]).get("unet")
    if not base:
        return pd.DataFrame(columns=columns)
    ceiling = margin * base[0]["metrics"]["fid"]
    runs: dict[str, tuple[str, dict]] = {}
    for name, st in STUDIES.items():
        if name == "models":
            continue
        for value, results in runner.study_results(name, profile, RULE_SEEDS, results_dir).items():
            for r in results:
                if r["metrics"]["fid"] <= ceiling and r["hash"] not in runs and r["hash"] != base[0]["hash"]:
                    runs[r["hash"]] = (f"{named_value(st, value)}, seed {r['seed']}", r)

    qualities, stored, n = comparable_quality([base[0], *(r for _, r in runs.values())])
    scored = [{"run": label, "stored FID": r["metrics"]["fid"], **q}
              for (label, r), q in zip([("the baseline (T = 15), seed 0", base[0]), *runs.values()], qualities)]
    mine, others = scored[0], scored[1:]
    rows = [{"case": "the baseline", **mine}]
    off = [o for o in others if o["recall"] <= mine["recall"]]
    if off:
        rows.append({"case": "off the digits", **min(off, key=lambda o: o["precision"])})
    digits = [o for o in others if o["precision"] >= mine["precision"] - PRECISION_MARGIN]
    if digits:
        rows.append({"case": "crowded", **max(digits, key=lambda o: o["class_kl"])})
    table = pd.DataFrame(rows, columns=columns)
    table.attrs["candidates"] = len(others)
    table.attrs["stored"] = stored
    table.attrs["samples"] = n
    return table


def blind_spot_text(table: pd.DataFrame, margin: float = BLIND_SPOT_MARGIN) -> str:
    """What :func:`fid_blind_spots` found: whether the ``off the digits`` run falls clearly below
    the baseline's precision (by more than :data:`PRECISION_MARGIN`), and whether the ``crowded`` run is crowded onto a
    few digits (class KL above 1, about what three equally used digits give: log(10/3) = 1.2)."""
    if not len(table):
        return "The baseline has no stored result at this profile yet."
    cases = table.set_index("case")
    base = cases.loc["the baseline"]
    n = table.attrs.get("candidates", 0)
    if not n:
        return "No stored run of the report's studies scores close enough to the baseline to compare yet."
    within = f"Of the {n} stored runs that score at most {margin:g} times the baseline's FID"
    off = cases.loc["off the digits"] if "off the digits" in cases.index else None
    if off is not None and base["precision"] - off["precision"] > PRECISION_MARGIN:
        first = (f"{within}, {off['run']} falls furthest off the digits without buying it back in variety: FID "
                 f"{off['stored FID']:.2f} against the baseline's {base['stored FID']:.2f}, but precision {off['precision']:.2f} "
                 f"against {base['precision']:.2f} and recall {off['recall']:.2f} against {base['recall']:.2f}.")
    else:
        lowest = f" (the lowest of those with no better recall: {off['precision']:.2f}, {off['run']})" if off is not None else ""
        first = f"{within}, none falls far below the baseline's precision of {base['precision']:.2f}{lowest}."
    crowded = cases.loc["crowded"] if "crowded" in cases.index else None
    if crowded is not None and crowded["class_kl"] > 1.0:
        second = (f"Among those whose samples are digits, {crowded['run']} crowds them onto a few: precision "
                  f"{crowded['precision']:.2f} and recall {crowded['recall']:.2f}, with a class KL of {crowded['class_kl']:.2f}.")
    elif crowded is not None:
        second = (f"None of those whose samples are digits crowds onto a few: the highest class KL is "
                  f"{crowded['class_kl']:.2f} ({crowded['run']}), against 2.30 for a single digit.")
    else:
        second = "No other run keeps the baseline's precision."
    return f"{first} {second}"
