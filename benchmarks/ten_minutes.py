"""The best DDPM M minutes of training buy on this machine, beside the ``diffusers`` DDPM a user
would train instead, in one run (issue 28).

For each seed, trains every candidate (default: the ``fast`` recipe) and the ``diffusers`` peer
for ``--minutes`` of wall-clock each, draws 1,000 samples with each one's sampler, and scores
them with the project's metrics (``ddpm_mnist.studies.timed``); then prints one table: steps,
images seen, FID (mean and SD over seeds), precision, recall, KL of the class histogram from
uniform, digits covered, and seconds to sample 1,000, with the real digits of the training
split as the ceiling. Results are stored (``<results-dir>/timed/``) and reused, so an
interrupted benchmark resumes; give it the machine to itself (each result records the load
average before it started).

Usage: ``python benchmarks/ten_minutes.py [--minutes 10] [--seeds 0 1 2] [--candidates [fast ...]]
[--results-dir results/cpu]``. Needs ``pip install -e .[compare]`` for the peer.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from ddpm_mnist.studies.profiles import results_dir_for
from ddpm_mnist.studies.runner import DirtyTreeError, committed_code_version
from ddpm_mnist.studies.timed import CANDIDATES, real_ceiling, run_candidate, run_peer, table
from ddpm_mnist.train.measured import describe_machine
from ddpm_mnist.train.recipes import RECIPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", nargs="*", default=["fast"], choices=[*RECIPES, *CANDIDATES],
                        help="recipes or search candidates to train beside the peer (default: the fast recipe; "
                             "none: the peer alone)")
    parser.add_argument("--no-peer", action="store_true", help="skip the diffusers peer")
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--train-subset", type=int, default=None, help="train on this many images (tests)")
    parser.add_argument("--results-dir", default=None, help="default: results/cpu of the repository")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run with uncommitted changes under ddpm_mnist/ (results then say '.dirty' and are not publishable)")
    args = parser.parse_args()
    if not args.candidates and args.no_peer:
        parser.error("nothing to run: no --candidates and --no-peer")
    try:
        version = committed_code_version(args.allow_dirty)
    except DirtyTreeError as e:
        parser.error(str(e))
    out = results_dir_for("cpu", args.results_dir)
    print(f"code {version}; machine: {describe_machine()}, torch {torch.__version__}, {args.minutes:g} minutes a run", flush=True)
    results = []
    kw = dict(n_samples=args.n_samples, results_dir=out, device=args.device, train_subset=args.train_subset)
    for seed in args.seeds:
        for label in args.candidates:
            results.append(run_candidate(label, args.minutes, seed, **kw))
            print(f"  {label} seed {seed}: FID {results[-1]['metrics']['fid']:.2f}", flush=True)
        if not args.no_peer:
            results.append(run_peer(args.minutes, seed, **kw))
            print(f"  diffusers seed {seed}: FID {results[-1]['metrics']['fid']:.2f}", flush=True)
    t = table(results, real_ceiling(args.n_samples))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(t.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if not args.no_peer:
        fid = dict(zip(t["method"], t["FID"]))
        for label in args.candidates:
            print(f"fid-ratio-to-diffusers {label}: {fid[label] / fid['diffusers']:.3f}")


if __name__ == "__main__":
    main()
