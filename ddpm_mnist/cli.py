"""Command line: ``ddpm-mnist train | sample | fid | train-classifier | study``.

Run ``ddpm-mnist COMMAND --help`` for the flags of each command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


TRAIN_DEFAULTS = {"model": "unet", "T": 15, "schedule": "linear-noise", "loss": "x-prev-l2", "value_range": "[-1,1]",
                  "epochs": 50, "batch_size": 256, "lr": 1e-3, "ema_decay": None, "ema_warmup": False, "optimizer": "adamw",
                  "lr_schedule": "constant", "warmup_steps": 0}
"""What ``train`` uses for an option given neither as a flag nor by ``--recipe``: the report's
baseline (its U-Net, T = 15, linear-noise, x-prev-l2, 50 epochs at batch 256) and the project's
protocol defaults."""


def _add_denoiser_flags(p: argparse.ArgumentParser) -> None:
    from .core import losses, models, ranges, schedules

    g = p.add_argument_group("denoiser (default: the report's baseline, or the recipe's)")
    g.add_argument("--model", choices=list(models.MODELS))
    g.add_argument("--channels", type=int, nargs="+", help="unet: channels per level, e.g. 32 64 128; conv: one number of filters")
    g.add_argument("--n-convs", type=int, help="conv/unet: number of convolutions")
    g.add_argument("--hidden", type=int, nargs="+", help="dense: hidden layer widths")
    g.add_argument("--T", type=int, help="number of noising steps (default 15)")
    g.add_argument("--schedule", choices=list(schedules.SCHEDULES))
    g.add_argument("--loss", choices=list(losses.LOSSES))
    g.add_argument("--range", dest="value_range", choices=list(ranges.RANGES), help="normalization range")


def _resolve(args: argparse.Namespace) -> tuple[dict, dict, dict | None]:
    """(spec fields, train options, default sampling) from the flags given, then ``--recipe``,
    then :data:`TRAIN_DEFAULTS`."""
    from .train.recipes import get_recipe

    recipe = get_recipe(args.recipe) if args.recipe else None
    base = {**TRAIN_DEFAULTS, **(recipe.spec if recipe else {}), **(recipe.train if recipe else {})}
    given = {k: v for k, v in vars(args).items() if v is not None and k in TRAIN_DEFAULTS}
    if args.minutes is not None:
        base.pop("epochs")
        if "epochs" in given:
            raise ValueError("give --epochs or --minutes, not both")
    if args.no_ema:
        given["ema_decay"] = None
    o = {**base, **given}
    opts = dict(recipe.spec.get("model_options", {})) if recipe and o["model"] == recipe.spec.get("model") else {}
    if args.channels:
        opts["channels"] = tuple(args.channels) if o["model"] == "unet" else args.channels[0]
    if args.n_convs is not None:
        opts["n_convs"] = args.n_convs
    if args.hidden:
        opts["hidden"] = tuple(args.hidden)
    if args.num_classes:
        opts["num_classes"] = args.num_classes
    spec = {"model": o["model"], "options": opts, "T": o["T"], "schedule": o["schedule"], "loss": o["loss"],
            "value_range": o["value_range"]}
    train = {k: o[k] for k in ("batch_size", "lr", "ema_decay", "ema_warmup", "optimizer", "lr_schedule", "warmup_steps")}
    train["epochs"] = o.get("epochs")
    return spec, train, (recipe.sampling if recipe else None)


def cmd_train(args: argparse.Namespace) -> None:
    from .core.spec import DenoiserSpec
    from .data import load_mnist
    from .train.training import train

    s, options, sampling = _resolve(args)
    spec = DenoiserSpec(s["model"], s["options"], s["T"], s["schedule"], s["loss"], s["value_range"])
    spec.build()  # fail early on bad options
    images, labels = load_mnist(train=True, value_range=spec.value_range, subset=args.subset, seed=args.seed, with_labels=True,
                                dataset=args.dataset)
    out = Path(args.out)
    result = train(
        spec, images, labels=labels, p_uncond=args.p_uncond, minutes=args.minutes, **options, seed=args.seed, device=args.device,
        compile=args.compile or None, checkpoint_path=out / "checkpoint.pt", sampling=sampling, progress=not args.quiet,
    )
    tail = result.losses[-50:]
    print(json.dumps({"checkpoint": str(out / "checkpoint.pt"), "steps": result.steps, "images_seen": result.images_seen,
                      "final_loss": sum(tail) / max(len(tail), 1), "wall_time_s": round(result.wall_time_s, 1),
                      "resumed_from_step": result.resumed_from_step, "time_budget": result.time_budget}))


def _sampling_options(args: argparse.Namespace, stored: dict | None, value_range: str) -> tuple[str, dict]:
    """The sampler and its options: the flags given, else the checkpoint's default sampling
    (a recipe's, ``stored``), else the report's ancestral sampler. ``--clip`` clamps DDIM's
    predicted x0 to ``value_range``."""
    from .core.ranges import check_range
    from .core.sampling import SAMPLERS

    name = args.sampler or (stored or {}).get("sampler", "ancestral")
    defaults = {"variance": "report", **((stored or {}).get("options", {}) if name == (stored or {}).get("sampler") else {})}
    given = {"variance": args.variance, "steps": args.steps, "eta": args.eta, "spacing": args.spacing,
             "clip": list(check_range(value_range)) if args.clip else None}
    options = {o: given[o] if given.get(o) is not None else defaults.get(o) for o in SAMPLERS[name].options}
    return name, {o: v for o, v in options.items() if v is not None}  # unset: the sampler's own default


def cmd_sample(args: argparse.Namespace) -> None:
    from .book.plots import save_grid
    from .core.ranges import to_uint8
    from .core.sampling import class_labels, network_evaluations, sample
    from .io import save_npy
    from .train.checkpoint import denoiser_from, read
    from .train.device import resolve_device
    from .train.fastpath import sampling_model

    device = resolve_device(args.device)
    payload = read(args.checkpoint)
    model, spec = denoiser_from(payload, ema=not args.no_ema, device=device, source=args.checkpoint)
    if args.guidance and not spec.num_classes:
        raise SystemExit(f"--guidance needs a class-conditional checkpoint; {args.checkpoint} is unconditional")
    labels = class_labels(args.n, spec.num_classes) if spec.num_classes else None  # rows of 10 per class
    sampler, options = _sampling_options(args, payload.get("sampling"), spec.value_range)
    stored = payload.get("sampling") or {}
    guidance = args.guidance if args.guidance is not None else stored.get("guidance", 0.0)
    interval = tuple(args.guidance_interval) if args.guidance_interval else stored.get("guidance_interval")
    evaluations = network_evaluations(sampler, spec.alpha_bar(), options, guidance, interval)
    model, _ = sampling_model(model, device, args.n * evaluations)
    x = sample(sampler, model, spec.alpha_bar(), spec.target, args.n, options=options, seed=args.seed, device=device,
               batch_size=args.batch_size, progress=not args.quiet, labels=labels, guidance=guidance, guidance_interval=interval)
    images = to_uint8(x, spec.value_range)[:, 0]
    out = Path(args.out)
    if out.suffix == ".npy":
        save_npy(out, images.numpy())
    elif out.suffix == ".png":
        save_grid(out, images)
    else:
        raise SystemExit(f"--out must end in .npy (uint8 array) or .png (grid), got {out}")
    settings = [f"{k}={v}" for k, v in options.items()] + ([f"guidance={guidance:g}"] if spec.num_classes else [])
    settings += [f"guidance on sigma in ({interval[0]:g}, {interval[1]:g}]"] if spec.num_classes and guidance and interval else []
    print(f"wrote {len(images)} samples to {out} ({sampler}, {', '.join(settings)})")


def cmd_fid(args: argparse.Namespace) -> None:
    from .eval.metrics import fid

    samples = np.load(args.file)
    value = fid(samples, reference=args.reference, features=args.features, n=args.n, value_range=args.value_range, dataset=args.dataset)
    n = args.n or len(samples)
    print(json.dumps({"fid": value, "features": args.features, "reference": args.reference, "dataset": args.dataset, "n_samples": n}))


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from .eval.classifier import train_classifier

    meta = train_classifier(epochs=args.epochs, seed=args.seed, out=args.out, progress=not args.quiet, dataset=args.dataset)
    print(json.dumps(meta, indent=1))


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, e.g. 0/4, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def cmd_study(args: argparse.Namespace) -> None:
    import pandas as pd

    from .studies.runner import study

    table = study(args.name, args.profile, seeds=args.seeds, results_dir=args.results_dir, device=args.device,
                  fresh=args.fresh, shard=args.shard, progress=not args.quiet)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["fids"]).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def build_parser() -> argparse.ArgumentParser:
    from .core.sampling import SAMPLERS, SPACINGS, VARIANCES
    from .studies.profiles import PROFILES
    from .studies.registry import ALL_STUDIES
    from .train.recipes import RECIPES

    parser = argparse.ArgumentParser(prog="ddpm-mnist", description="Denoising diffusion models on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a denoiser; resumes from OUT/checkpoint.pt if present")
    _add_denoiser_flags(p)
    p.add_argument("--recipe", default=None, choices=list(RECIPES), help="a preset of the options above and below (flags given win): "
                   "fast = v-prediction, cosine-nichol, T = 1000, batch 64, EMA, sampled with DDIM 50")
    p.add_argument("--epochs", type=float, default=None, help="training length in epochs (default 50)")
    p.add_argument("--minutes", type=float, default=None, help="training length in wall-clock minutes instead of epochs")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=["adamw", "schedulefree"])
    p.add_argument("--lr-schedule", choices=["constant", "cosine", "linear"], help="decay after the warm-up (default constant)")
    p.add_argument("--warmup-steps", type=int, help="linear lr warm-up steps (default 0)")
    p.add_argument("--ema-decay", type=float, help="keep an EMA of the weights with this decay (default none)")
    p.add_argument("--ema-warmup", action="store_true", default=None, help="warm the EMA decay up as min(d, (1+n)/(10+n))")
    p.add_argument("--no-ema", action="store_true", help="no EMA even if the recipe has one")
    p.add_argument("--subset", type=int, default=None, help="train on a seeded random subset of this many images")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--num-classes", type=int, default=0, help="unet: class-conditional with this many classes (10), for guidance")
    p.add_argument("--p-uncond", type=float, default=0.1, help="class-conditional: probability of dropping the label in training")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (faster after a minute of compiling)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--out", required=True, help=".npy (uint8 array (N, 28, 28)) or .png (grid)")
    p.add_argument("--sampler", choices=list(SAMPLERS), default=None,
                   help="; ".join(f"{name}: {s.description}" for name, s in SAMPLERS.items()))
    p.add_argument("--variance", choices=list(VARIANCES), default=None, help="ancestral sampler: sigma_t^2 = beta_{t-1} (the report, the default), beta_t (Ho et al.) or the posterior variance")
    p.add_argument("--steps", type=int, default=None, help="DDIM, DPM-Solver: number of steps (default: T for DDIM, 20 for DPM-Solver)")
    p.add_argument("--eta", type=float, default=None, help="DDIM: eta (default 0)")
    p.add_argument("--spacing", choices=list(SPACINGS), default=None, help="DPM-Solver: time steps evenly spaced in t or in sqrt(t) (quadratic, the default)")
    p.add_argument("--clip", action="store_true", help="DDIM, DPM-Solver: clamp each predicted x0 to the data range")
    p.add_argument("--guidance", type=float, default=None,
                   help="class-conditional checkpoints: classifier-free guidance scale w (default: the recipe's, else 0)")
    p.add_argument("--guidance-interval", type=float, nargs=2, metavar=("SIGMA_LO", "SIGMA_HI"),
                   help="guide only the steps whose noise level sqrt((1-alpha_bar)/alpha_bar) lies in (SIGMA_LO, SIGMA_HI] "
                        "(default: the recipe's, else every step)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even if EMA weights exist")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("fid", help="FID of a .npy of samples against MNIST (or Fashion-MNIST)")
    p.add_argument("file")
    p.add_argument("--features", default="mnist-cnn", choices=["mnist-cnn", "fashion-cnn", "inception"])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"], help="whose test/train set is the reference")
    p.add_argument("--reference", default="test", choices=["train", "test"])
    p.add_argument("--n", type=int, default=None, help="score only the first N samples")
    p.add_argument("--range", dest="value_range", default=None, help="value range of float samples, e.g. [-1,1]")
    p.set_defaults(func=cmd_fid)

    p = sub.add_parser("train-classifier", help="retrain the MNIST (or Fashion-MNIST) classifier used as FID feature extractor")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="weights file (default: the package's shipped weights)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser("study", help="run (or load) one of the report's studies (or one beyond it) and print its table")
    p.add_argument("name", choices=list(ALL_STUDIES))
    p.add_argument("--profile", default="smoke", choices=list(PROFILES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--results-dir", default=None, help="default: results/<profile> of the repository")
    p.add_argument("--shard", type=_shard, default=None, help="i/n: run only shard i of n (machines sharing a results dir)")
    p.add_argument("--fresh", action="store_true", help="recompute even if results exist")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_study)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"ddpm-mnist {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
