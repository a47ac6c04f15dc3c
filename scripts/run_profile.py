"""Compute every study of a profile, one run at a time, resumably (for ``nohup``).

Runs are taken in the order of :func:`ddpm_mnist.studies.plan.run_order` (central first, each study
of the seed rule followed by the further seeds it asks for, the part beyond the report after
the study ``plan.BEYOND_AFTER``, the ``choice`` rule's further seeds for it last); a finished run is skipped, an interrupted one resumes from its checkpoint. Results land in
``results/<profile>/runs/<hash>/``; commit them as they appear. Usage::

    nohup python scripts/run_profile.py --profile cpu > results/cpu/runner.log 2>&1 &

On a two-core CPU, two runners of one thread each on disjoint ``--studies`` (``OMP_NUM_THREADS=1``,
logs ``runner-a.log`` and ``runner-b.log``) train about 12% more images per second in all than
one runner of two threads (83 + 83 against 148 images/s for the baseline U-Net's compiled
step); a study's rule seeds stay in the lane of its first seeds. Lanes may also overlap: a run
that another runner is training (it holds the lock beside the checkpoint) is put off to the end
of this runner's list rather than trained twice, and so is every later run that would start on the same training
trajectory (the same network at another length, :func:`ddpm_mnist.studies.runner.trajectory`),
which would otherwise start again from an older, shorter checkpoint instead of continuing that
run; a runner started late with the studies of a busier lane takes that lane's runs from where it is.
"""

from __future__ import annotations

import argparse
import time

from ddpm_mnist.studies.beyond import BEYOND
from ddpm_mnist.studies.plan import BEYOND_RUNS, CHAPTER_RUNS, PROTOCOL_RUNS, run_order
from ddpm_mnist.studies.runner import DirtyTreeError, PlannedRun, checkpoint_path, committed_code_version, load_result, plan, run, trajectory
from ddpm_mnist.io import LockedError
from ddpm_mnist.studies.profiles import Profile, get_profile
from ddpm_mnist.studies.protocol import PROTOCOL
from ddpm_mnist.studies.report import STUDIES
from ddpm_mnist.studies.registry import get_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    every = [*STUDIES, *BEYOND, PROTOCOL.name]
    parser.add_argument("--studies", nargs="+", default=every, choices=every)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run with uncommitted changes under ddpm_mnist/ (results then say '.dirty' and are not publishable)")
    args = parser.parse_args()
    try:
        version = committed_code_version(args.allow_dirty)
    except DirtyTreeError as e:
        parser.error(str(e))
    print(f"{time.strftime('%H:%M:%S')} code {version}", flush=True)
    prof = get_profile(args.profile)
    planned = {name for name, _, _ in PROTOCOL_RUNS + CHAPTER_RUNS + BEYOND_RUNS}
    assert planned == set(every), "CHAPTER_RUNS and BEYOND_RUNS must cover every study"
    put_off, held = [], set()
    for name, values, seeds in run_order(prof.name):
        if name not in args.studies:
            continue
        for r in plan(get_study(name), prof, seeds, values):
            # a run that would start on a trajectory another runner is training waits for it: it
            # may continue that runner's run (a longer one) or be scored from its checkpoint; one
            # that resumes its own checkpoint has nothing to wait for
            starts = not checkpoint_path(r.config, prof.results_dir).exists()
            if (starts and trajectory(r.config) in held) or not compute(name, r, prof, args.device, wait=False):
                put_off.append((name, r))
                held.add(trajectory(r.config))
    for name, r in put_off:  # another runner had them: wait for it, then score what is still missing
        compute(name, r, prof, args.device, wait=True)


def compute(name: str, r: PlannedRun, prof: Profile, device: str, wait: bool) -> bool:
    """Run ``r`` (a planned run of study ``name``) unless all its results are stored; False
    when another process holds its checkpoint and ``wait`` is False."""
    targets = [r.config.with_param("epochs", e) for e in r.milestones] + [r.config]
    if all(load_result(c, prof.results_dir) for c in targets):
        return True
    t0 = time.time()
    print(f"{time.strftime('%H:%M:%S')} {name}: run {r.config.hash()} (seed {r.config.seed}, {r.config.epochs:g} epochs) ...", flush=True)
    try:
        result = run(r.config, prof.results_dir, device=device, profile=prof.name, milestones=r.milestones, progress=False, wait=wait)
    except LockedError:
        print(f"{time.strftime('%H:%M:%S')} {name}: {r.config.hash()} is being trained by another runner; put off", flush=True)
        return False
    print(f"{time.strftime('%H:%M:%S')} {name}: {r.config.hash()} FID {result['metrics']['fid']:.2f} "
          f"in {(time.time() - t0) / 60:.1f} min", flush=True)
    return True


if __name__ == "__main__":
    main()
