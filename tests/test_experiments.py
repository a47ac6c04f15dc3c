import dataclasses
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from ddpm_mnist.studies.beyond import FEWER_STEPS
from ddpm_mnist.studies.config import RunConfig
from ddpm_mnist.studies.runner import checkpoint_path, draw_samples, load_result, plan, run, run_dir, shard_of, shorter_checkpoint, study, tabulate, trajectory
from ddpm_mnist.studies.profiles import PROFILES, Profile, get_profile
from ddpm_mnist.studies.report import DENSE, STUDIES, UNET
from ddpm_mnist.studies.registry import get_study
from ddpm_mnist.core.sampling import ancestral_sample, ddim_sample

SMOKE = get_profile("smoke")


def test_hash_stable_across_processes():
    code = "from ddpm_mnist.studies.report import UNET; print(UNET.hash())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == UNET.hash() and len(other) == 12
    assert RunConfig(epochs=50).hash() == RunConfig(epochs=50.0).hash()


def test_hash_changes_with_every_field():
    changed = {
        "model": "conv", "model_options": {"channels": (8, 16, 32), "n_convs": 10}, "T": 16, "schedule": "cosine",
        "loss": "x-prev-l1", "value_range": "[0,1]", "batch_size": 128, "epochs": 49, "lr": 2e-3, "grad_clip": None,
        "ema_decay": 0.999, "train_subset": 1000, "sampler": "ddim", "variance": "beta-tilde", "ddim_steps": 5,
        "ddim_eta": 1.0, "n_samples": 9999, "fid_features": "inception", "fid_reference": "train", "seed": 1,
        "dataset": "fashion-mnist", "p_uncond": 0.2, "guidance": 1.0, "sample_seed": 3,
        "optimizer": "schedulefree", "lr_schedule": "cosine", "warmup_steps": 10, "ema_warmup": True, "use_ema": False,
        "ddim_clip": True,
    }
    assert set(changed) == {f.name for f in dataclasses.fields(RunConfig)}
    conditional = UNET.with_param("model_options.num_classes", 10)
    hashes = {UNET.hash(), conditional.hash()}
    for name, value in changed.items():
        opts = {"model_options": {}} if name == "model" else {}
        base = conditional if name == "guidance" else UNET
        if name == "optimizer":
            base = dataclasses.replace(base, lr_schedule="constant")
        hashes.add(dataclasses.replace(base, **{name: value, **opts}).hash())
    assert len(hashes) == len(changed) + 2


def test_train_hash_ignores_sampling_fields():
    ddim = dataclasses.replace(UNET, sampler="ddim", ddim_steps=5, n_samples=100, variance="beta", sample_seed=7)
    assert ddim.train_hash() == UNET.train_hash() and ddim.hash() != UNET.hash()
    assert dataclasses.replace(UNET, lr=2e-3).train_hash() != UNET.train_hash()


def test_config_round_trip_and_errors():
    assert RunConfig.from_dict(json.loads(json.dumps(UNET.to_dict()))) == UNET
    with pytest.raises(ValueError, match="valid samplers"):
        RunConfig(sampler="euler")
    with pytest.raises(ValueError, match="has no field 'epoch'"):
        UNET.with_param("epoch", 3)
    with pytest.raises(ValueError, match="valid studies"):
        get_study("lr")
    with pytest.raises(ValueError, match="valid profiles"):
        get_profile("gpu")


def test_profiles():
    cpu = PROFILES["cpu"].apply(UNET)
    assert cpu.epochs == pytest.approx(3.0) and cpu.n_samples == 1000 and cpu.train_subset is None
    assert PROFILES["paper"].apply(UNET).epochs == 50 and PROFILES["paper"].apply(UNET).n_samples == 10_000
    assert PROFILES["cpu"].apply(DENSE).epochs == 12 and PROFILES["cpu"].capped(1000)
    assert SMOKE.apply(UNET).train_subset == 128
    # the published profile pins fp32 (machines change between sessions); the others take the fastest
    assert PROFILES["cpu"].precision == "float32" and PROFILES["cpu"].amp is False
    assert SMOKE.precision is None and SMOKE.amp is None
    with pytest.raises(ValueError, match="precision 'fp16'"):
        Profile("x", 1.0, None, None, 8, "bad", precision="fp16")


def test_a_profile_protocol_fills_what_a_study_does_not_set():
    from ddpm_mnist.studies.beyond import BEYOND, HO
    from ddpm_mnist.studies.profiles import CPU_PROTOCOL, with_protocol
    from ddpm_mnist.studies.protocol import PROTOCOL

    protocol = {"ema_decay": 0.999, "ema_warmup": True, "variance": "beta"}
    assert with_protocol(UNET, protocol) == dataclasses.replace(UNET, **protocol)
    assert with_protocol(UNET, protocol, keep="variance").variance == "report"
    assert with_protocol(UNET.with_param("ema_decay", 0.995), protocol).ema_decay == 0.995  # a study's explicit choice stays
    assert with_protocol(UNET, {}) is UNET
    free = {"optimizer": "schedulefree", "lr": 2e-3, "ema_warmup": True}
    assert with_protocol(UNET, free).ema_warmup is False  # no EMA to warm up: the config stays the protocol study's
    assert with_protocol(UNET.with_param("ema_decay", 0.995), free).ema_warmup is True
    staged = Profile("s", 0.06, 12, None, 1000, "with a protocol", protocol=protocol)
    bare = Profile("b", 0.06, 12, None, 1000, "the same budget, no protocol")
    sampler = BEYOND["sampler-baseline"]
    assert [staged.study_config(sampler, v).variance for v in sampler.values] == ["report", "beta", "beta-tilde"]
    assert staged.study_config(BEYOND["fewer-steps"], "ancestral, 100 steps").variance == HO.variance
    assert staged.study_config(get_study("batch-size"), 64).ema_decay == 0.999
    published = PROTOCOL.configs["constant 1e-3 (previous)"]
    assert staged.study_config(PROTOCOL, "constant 1e-3 (previous)") == bare.apply(published)  # protocols stay as they are
    assert bare.study_config(get_study("batch-size"), 64) == bare.apply(UNET.with_param("batch_size", 64))
    # the published profile runs every study under the protocol study's choice, except in the field a study varies
    cpu = PROFILES["cpu"]
    assert cpu.protocol == CPU_PROTOCOL and cpu.protocol["optimizer"] == "schedulefree"
    assert cpu.study_config(get_study("batch-size"), 64) == with_protocol(bare.apply(UNET.with_param("batch_size", 64)), CPU_PROTOCOL)
    assert cpu.study_config(get_study("epochs"), 1000).optimizer == "schedulefree" and cpu.results_dir.name == "cpu"


def test_contenders_are_the_values_one_seed_cannot_tell_from_the_choice_or_that_beat_it():
    import pandas as pd

    from ddpm_mnist.studies.plan import contenders

    nan = float("nan")
    table = pd.DataFrame({"value": ["a", "b", "c", "d", "e", "f"], "fid_mean": [61.0, 65.0, 80.0, 50.0, 40.0, nan],
                          "nonfinite_fraction": [0, 0, 0, 0, 1.0, nan]})
    # margin 1.96 * 4 * sqrt(1 + 1/3) = 9.05 above the choice's 60 (three seeds)
    assert contenders(table, 4.0, "a", 60.0, 3) == ["b", "d"]
    assert contenders(table, 8.0, "a", 60.0, 3) == ["b", "d"]  # 80 is still beyond 60 + 18.1
    assert contenders(table, 12.0, "a", 60.0, 3) == ["b", "c", "d"]
    assert contenders(table, nan, "a", 60.0, 3) == [] and contenders(table, 4.0, "a", nan, 3) == []


def test_plans_and_shards():
    st = get_study("epochs")
    runs = plan(st, get_profile("cpu"), seeds=[0, 1])
    assert len(runs) == 2 and all(r.config.epochs == 12 for r in runs)
    assert runs[0].milestones == pytest.approx((0.06, 0.3, 0.6, 1.5, 3.0, 6.0))
    runs = plan(get_study("noising-steps"), SMOKE, seeds=[0, 1, 2])
    assert len(runs) == 36
    parts = [shard_of(runs, (i, 4)) for i in range(4)]
    hashes = [r.config.hash() for part in parts for r in part]
    assert sorted(hashes) == sorted(r.config.hash() for r in runs) and len(set(hashes)) == len(hashes)
    assert all(parts)


@pytest.fixture()
def results(tmp_path):
    return tmp_path / "results"


def test_run_caches_resumes_and_detects_corruption(results):
    config = SMOKE.apply(UNET).with_param("n_samples", 16)
    first = run(config, results, device="cpu", profile="smoke", progress=False)
    assert first["samples"].shape == (16, 28, 28) and first["samples"].dtype == np.uint8
    assert first["metrics"]["n_samples"] == 16 and first["metrics"]["features"] == "mnist-cnn"
    assert first["profile"] == "smoke" and first["train"]["images_seen"] > 0 and first["code_version"]
    assert sum(first["train"]["precision_steps"].values()) == first["train"]["steps"]
    pinned = run(config.with_param("seed", 1), results, device="cpu", profile="cpu", progress=False)
    assert pinned["train"]["precision_steps"] == {"float32": pinned["train"]["steps"]}  # fp32 even where bf16 is native
    assert pinned["metrics"]["sampling_path"]["precision"] == "float32"
    t0 = time.perf_counter()
    again = run(config, results, device="cpu", progress=False)
    assert time.perf_counter() - t0 < 1.0 and again["created"] == first["created"]
    time.sleep(1.1)
    fresh = run(config, results, device="cpu", fresh=True, progress=False)
    assert fresh["created"] != first["created"]
    path = run_dir(config, results) / "result.json"
    path.write_text(path.read_text()[:100])
    with pytest.warns(UserWarning, match="corrupt"):
        redone = run(config, results, device="cpu", progress=False)
    assert redone["metrics"]["fid"] == pytest.approx(fresh["metrics"]["fid"], rel=1e-4)


def test_a_trajectory_is_one_network_at_any_length():
    base = SMOKE.apply(UNET).with_param("epochs", 1.0)
    assert trajectory(base) == trajectory(base.with_param("epochs", 3.0)) == trajectory(base.with_param("ddim_steps", 10))
    assert trajectory(base) != trajectory(base.with_param("seed", 1))
    assert trajectory(base) != trajectory(base.with_param("ema_decay", 0.995))  # another average is another training


def test_longer_run_extends_shorter_one(results):
    short = SMOKE.apply(UNET).with_param("n_samples", 8).with_param("epochs", 1.0)
    run(short, results, device="cpu", progress=False)
    longer = short.with_param("epochs", 2.0)
    assert shorter_checkpoint(longer, results, up_to=2.0) == (checkpoint_path(short, results), 1.0)
    assert shorter_checkpoint(longer, results, up_to=0.5) is None
    assert shorter_checkpoint(longer.with_param("seed", 1), results, up_to=2.0) is None
    r = run(longer, results, device="cpu", progress=False)
    assert r["train"]["extended_from_step"] == 1 and r["train"]["steps"] == 2
    direct = run(longer, results, device="cpu", fresh=True, progress=False)
    assert direct["train"]["extended_from_step"] is None
    assert direct["metrics"]["fid"] == pytest.approx(r["metrics"]["fid"], rel=1e-4)


def test_milestones_of_a_finished_run_are_trained_on_their_own(results):
    config = SMOKE.apply(UNET).with_param("n_samples", 8).with_param("epochs", 2.0)
    run(config.with_param("sample_seed", 1), results, device="cpu", progress=False)  # trains the network, keeps no milestone
    run(config, results, device="cpu", milestones=[1.0], progress=False)
    one = load_result(config.with_param("epochs", 1.0), results)
    assert one is not None and one["train"]["steps"] == 1
    direct = run(config.with_param("epochs", 1.0), results, device="cpu", fresh=True, progress=False)
    assert direct["metrics"]["fid"] == pytest.approx(one["metrics"]["fid"], rel=1e-4)


def test_sample_seed_resamples_the_same_network(results):
    config = SMOKE.apply(UNET).with_param("n_samples", 8)
    first = run(config, results, device="cpu", progress=False)
    assert config.sampling_seed == config.seed == 0
    other = run(config.with_param("sample_seed", 1), results, device="cpu", progress=False)
    same = run(config.with_param("sample_seed", 0), results, device="cpu", progress=False)
    assert other["train"] == first["train"] == same["train"]  # one trained network, not retrained
    assert not np.array_equal(other["samples"], first["samples"])
    np.testing.assert_array_equal(same["samples"], first["samples"])
    assert same["metrics"]["fid"] == pytest.approx(first["metrics"]["fid"])


def test_smoke_study_table(results):
    table = study("epochs", "smoke", seeds=[0], results_dir=results, device="cpu", progress=False)
    st = STUDIES["epochs"]
    assert list(table["value"]) == [st.label(v) for v in st.values]
    assert {"value", "report_fid", "fid_mean", "fid_std", "n_seeds", "train_time_s", "parameters", "best", "report_best"} <= set(table.columns)
    assert (table["n_seeds"] == 1).all() and table["fid_mean"].notna().all()
    assert table.loc[table["value"] == "50", "report_fid"].item() == 12.6
    assert table["report_best"].sum() == 1
    # stored results alone rebuild the same table
    again = tabulate(st, SMOKE, [0], results)
    assert np.allclose(again["fid_mean"], table["fid_mean"])
    assert load_result(SMOKE.apply(st.config_for(1)), results) is not None


def test_a_background_profile_builds_its_chapters_from_stored_results_and_never_trains(results):
    from ddpm_mnist.studies.plan import run_study

    assert PROFILES["cpu"].background and not SMOKE.background and not PROFILES["paper"].background
    table = run_study("channels", "cpu", [0], results, "cpu")  # an empty folder: nothing may train
    assert table["fid_mean"].isna().all() and (table["n_seeds"] == 0).all()
    assert not any(results.rglob("result.json")) and not any(results.rglob("*.pt"))


def test_draw_samples_uses_the_sampler_the_config_names():
    ancestral, ddim = FEWER_STEPS["ancestral, 100 steps"], FEWER_STEPS["DDIM eta=1, 10 steps"]
    ancestral, ddim = ancestral.with_param("T", 10), ddim.with_param("T", 10).with_param("ddim_steps", 3)
    torch.manual_seed(0)
    model = ancestral.spec.build()
    ab = ancestral.spec.alpha_bar()
    got = draw_samples(ddim, model, 4)
    torch.testing.assert_close(got, ddim_sample(model, ab, "eps", 4, steps=3, eta=1.0, seed=0, progress=False))
    got = draw_samples(ancestral.with_param("sample_seed", 5), model, 4)
    torch.testing.assert_close(got, ancestral_sample(model, ab, "eps", 4, variance="beta", seed=5, progress=False))
    assert not torch.equal(got, draw_samples(ancestral, model, 4))


def test_run_does_not_train_a_network_another_process_is_training(results, lock_holder):
    from ddpm_mnist.io import LockedError

    config = SMOKE.apply(UNET).with_param("n_samples", 8)
    holder = lock_holder(checkpoint_path(config, results).with_suffix(".lock"))
    with pytest.raises(LockedError):
        run(config, results, device="cpu", progress=False, wait=False)
    assert not checkpoint_path(config, results).exists() and load_result(config, results) is None
    holder.kill()
    holder.wait()
    first = run(config, results, device="cpu", progress=False, wait=False)
    lock_holder(checkpoint_path(config, results).with_suffix(".lock"))
    assert run(config, results, device="cpu", progress=False, wait=False)["created"] == first["created"]  # stored: no lock needed


def test_code_version_is_read_once_and_a_dirty_tree_is_refused(monkeypatch):
    from types import SimpleNamespace

    from ddpm_mnist.studies import runner

    runner.code_version.cache_clear()
    first = runner.code_version()
    # a commit (or an edit) made while a process runs must not change what its results name
    monkeypatch.setattr(runner.subprocess, "run", lambda *a, **k: SimpleNamespace(stdout="ffffffffffff\n"))
    try:
        assert runner.code_version() == first
        runner.code_version.cache_clear()
        assert runner.code_version().endswith("+ffffffffffff.dirty")
        with pytest.raises(runner.DirtyTreeError, match="commit them first"):
            runner.committed_code_version()
        assert runner.committed_code_version(allow_dirty=True).endswith(".dirty")
    finally:
        runner.code_version.cache_clear()


def test_the_seed_rule_gives_more_seeds_to_the_contenders_of_the_baseline(monkeypatch):
    """The rule's values are the first-seed table's contenders against the baseline's mean, seed
    spread and seed count, in the study's order; the report's choice is never one of them."""
    import pandas as pd

    from ddpm_mnist.studies import plan

    st = get_study("noising-steps")
    monkeypatch.setattr(plan, "tuned_row", lambda profile, results_dir=None: pd.Series({"fid_mean": 58.0, "fid_std": 4.0, "n_seeds": 3}))
    fids = {1: 192.8, 5: 51.1, 10: 44.6, 15: 55.5, 20: 66.8, 30: 72.2, 50: 75.6, 75: 76.1, 100: 79.7, 200: 151.6, 500: 171.3}
    first = pd.DataFrame({"value": [st.label(v) for v in st.values], "fid_mean": [fids.get(v, float("nan")) for v in st.values]})
    assert plan.rule_values(st, first, "cpu") == [5, 10, 20]  # below 58 + 1.96 * 4 * sqrt(4/3) = 67.05
    monkeypatch.setattr(plan, "tuned_row", lambda profile, results_dir=None: pd.Series({"fid_mean": 58.0, "fid_std": 8.0, "n_seeds": 3}))
    assert plan.rule_values(st, first, "cpu") == [5, 10, 20, 30, 50, 75]  # a wider spread: 76.11
    assert "plan.contenders" in plan.seed_rule_text()
