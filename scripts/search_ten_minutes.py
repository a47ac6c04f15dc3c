"""Search the ``fast`` recipe at equal wall-clock, resumably (issue 28's search; for ``nohup``).

Trains each candidate of :data:`ddpm_mnist.studies.timed.CANDIDATES` (and, with ``--peer``, the
``diffusers`` DDPM) for ``--minutes`` of wall-clock per seed, samples 1,000 images with its
sampler and scores them; results land in ``results/cpu/search/`` (commit them as they appear).
Candidates that change only the sampler reuse the trained network of ``fast``.

The search runs as two lanes of one thread each on the two cores (``OMP_NUM_THREADS=1``, started
a few seconds apart, logs ``search-a.log`` and ``search-b.log``), so that every candidate is
trained on one core beside one other busy core: the comparison is at equal wall-clock and equal
share of the machine. A lane skips a network another lane is training and comes back to it at
the end. A run fixes its number of steps from a few seconds of probing at its start
(:mod:`ddpm_mnist.train.budget`), so that moment must see the same load as every other run's:
the other lane busy and nothing else (each result records the load average before it started,
about 2 when it is right). Keep the machine otherwise quiet while the search runs. The chosen recipe is then measured on the whole machine, beside ``diffusers``, by
``benchmarks/ten_minutes.py``. Usage::

    OMP_NUM_THREADS=1 nohup python scripts/search_ten_minutes.py --minutes 20 --seeds 0 > results/cpu/search-a.log 2>&1 &
"""

from __future__ import annotations

import argparse
import time

from ddpm_mnist.io import LockedError
from ddpm_mnist.studies.profiles import results_dir_for
from ddpm_mnist.studies.runner import DirtyTreeError, committed_code_version
from ddpm_mnist.studies.timed import CANDIDATES, PEER, run_candidate, run_peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--peer", action="store_true", help="also train and score the diffusers DDPM")
    parser.add_argument("--results-dir", default=None, help="default: results/cpu of the repository")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run with uncommitted changes under ddpm_mnist/ (results then say '.dirty' and are not publishable)")
    args = parser.parse_args()
    try:
        version = committed_code_version(args.allow_dirty)
    except DirtyTreeError as e:
        parser.error(str(e))
    out = results_dir_for("cpu", args.results_dir)
    jobs = [(seed, label) for seed in args.seeds for label in [*args.candidates, *([PEER] if args.peer else [])]]

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    log(f"code {version}; {len(jobs)} runs of {args.minutes:g} minutes")
    for wait in (False, True):  # first everything no other lane holds, then wait for the rest
        for seed, label in list(jobs):
            kw = dict(results_dir=out, folder="search", wait=wait)
            try:
                log(f"{label} seed {seed} ...")
                r = run_peer(args.minutes, seed, **kw) if label == PEER else run_candidate(label, args.minutes, seed, **kw)
            except LockedError:
                log(f"{label} seed {seed}: its network is being trained by another lane; put off")
                continue
            jobs.remove((seed, label))
            m = r["metrics"]
            log(f"{label} seed {seed}: FID {m['fid']:.2f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                f"{r['train']['steps']} steps")
    log("done")


if __name__ == "__main__":
    main()
