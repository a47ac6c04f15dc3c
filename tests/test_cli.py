"""The command line's train and sample, in-process, on tiny networks."""

import json

import numpy as np
import pytest

from ddpm_mnist.cli import main
from ddpm_mnist.core.sampling import SAMPLERS
from ddpm_mnist.train import checkpoint as ckpt
from ddpm_mnist.train.recipes import RECIPES, get_recipe

TINY = ["--channels", "8", "16", "32", "--n-convs", "5", "--subset", "128", "--quiet"]


def test_recipe_fills_what_is_not_given_and_sample_uses_its_sampler(tmp_path, capsys):
    out = tmp_path / "fast"
    assert main(["train", "--recipe", "fast", "--minutes", "0.03", "--T", "100", *TINY, "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["time_budget"]["planned_steps"] == printed["steps"]
    state = ckpt.read(out / "checkpoint.pt")
    fast = get_recipe("fast")
    assert state["spec"]["T"] == 100 and state["spec"]["loss"] == fast.spec["loss"] and state["spec"]["schedule"] == fast.spec["schedule"]
    assert tuple(state["spec"]["model_options"]["channels"]) == (8, 16, 32)
    assert state["settings"]["batch_size"] == 64 and state["settings"]["ema_decay"] == fast.train["ema_decay"]
    assert state["settings"]["ema_warmup"] is True and state["sampling"] == fast.sampling
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "4", "--out", str(tmp_path / "s.npy"), "--quiet"]) == 0
    steps = fast.sampling["options"]["steps"]
    assert f"{fast.sampling['sampler']}, steps={steps}, guidance={fast.sampling['guidance']:g})" in capsys.readouterr().out
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (4, 28, 28) and samples.dtype == np.uint8
    # a flag overrides the stored sampler
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "2", "--sampler", "ancestral", "--out", str(tmp_path / "a.npy"),
                 "--quiet"]) == 0
    assert "ancestral, variance=report" in capsys.readouterr().out
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "2", "--sampler", "dpm-solver", "--steps", "5", "--clip",
                 "--out", str(tmp_path / "d.npy"), "--quiet"]) == 0
    assert "dpm-solver, steps=5, clip=[-1.0, 1.0], guidance=" in capsys.readouterr().out


def test_train_without_recipe_is_the_report_baseline_and_rejects_two_lengths(tmp_path, capsys):
    out = tmp_path / "base"
    assert main(["train", "--epochs", "0.25", "--batch-size", "32", *TINY, "--out", str(out)]) == 0
    state = ckpt.read(out / "checkpoint.pt")
    assert state["spec"]["T"] == 15 and state["spec"]["loss"] == "x-prev-l2" and state["spec"]["schedule"] == "linear-noise"
    assert "sampling" not in state and "time_budget" not in state and state["step"] == 1
    assert main(["train", "--epochs", "1", "--minutes", "1", *TINY, "--out", str(tmp_path / "x")]) == 2
    assert "--epochs or --minutes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "slow", "--out", str(tmp_path / "y")])


def test_recipes_are_complete():
    for recipe in RECIPES.values():
        assert set(recipe.spec) >= {"model", "T", "schedule", "loss"} and recipe.sampling["sampler"] in SAMPLERS
    with pytest.raises(ValueError, match="valid recipes: fast"):
        get_recipe("slow")
