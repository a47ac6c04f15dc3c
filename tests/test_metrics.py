import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from ddpm_mnist.eval import classifier, metrics
from ddpm_mnist.data import load_mnist_uint8
from ddpm_mnist.eval.metrics import INCEPTION_FILE, InceptionWeightsMissing, fid, frechet_distance


def _random_gaussian(rng, d):
    a = rng.normal(size=(d, d))
    return rng.normal(size=d), a @ a.T / d + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [2, 16, 64])
def test_frechet_matches_pytorch_fid(d):
    rng = np.random.default_rng(d)
    (m1, s1), (m2, s2) = _random_gaussian(rng, d), _random_gaussian(rng, d)
    ours, ref = frechet_distance(m1, s1, m2, s2), calculate_frechet_distance(m1, s1, m2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_closed_form_and_singular():
    # 1-d: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    rng = np.random.default_rng(0)
    low_rank = rng.normal(size=(32, 3))
    s = low_rank @ low_rank.T  # rank 3: singular
    value = frechet_distance(np.zeros(32), s, np.ones(32), s)
    assert np.isfinite(value) and value == pytest.approx(32.0, rel=1e-6)
    assert frechet_distance(np.zeros(4), np.zeros((4, 4)), np.zeros(4), np.zeros((4, 4))) == 0.0
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


@pytest.fixture(scope="module")
def test_images():
    return load_mnist_uint8(train=False)[0]


def test_classifier_accuracy(test_images):
    meta = classifier.metadata()
    assert meta["test_accuracy"] >= 0.992 and meta["feature_dim"] == 128
    assert classifier.WEIGHTS.stat().st_size < 1_000_000
    labels = load_mnist_uint8(train=False)[1]
    measured = (classifier.predict(test_images).argmax(1) == labels).float().mean().item()
    assert measured == pytest.approx(meta["test_accuracy"], abs=1e-4)


def test_digit_summary(test_images):
    s = classifier.digit_summary(test_images[:500])
    assert sum(s["histogram"]) == 500 and s["classes_covered"] == 10 and s["mean_confidence"] > 0.95
    assert "label_accuracy" not in s


def test_accuracy_per_class_with_true_and_shifted_labels(test_images):
    labels = load_mnist_uint8(train=False)[1][:500]
    s = classifier.digit_summary(test_images[:500], labels)
    per_class = classifier.accuracy_per_class(test_images[:500], labels)
    assert per_class.shape == (10,) and s["label_accuracy_per_class"] == pytest.approx(per_class.tolist())
    assert (per_class > 0.95).all() and s["label_accuracy"] > 0.98
    # asking for the wrong digit: each class is read as asked almost never
    assert (classifier.accuracy_per_class(test_images[:500], (labels + 1) % 10) < 0.05).all()
    # a class never asked for is NaN, not 0
    only_ones = classifier.accuracy_per_class(test_images[:500][labels == 1], labels[labels == 1])
    assert only_ones[1] > 0.95 and torch.isnan(only_ones[[0, 2, 3, 4, 5, 6, 7, 8, 9]]).all()


def test_sanity_ladders():
    table = metrics.sanity_fids(n=2000, reference="test")
    by_kind = {k: list(g["fid"]) for k, g in table.groupby("kind", sort=False)}
    assert by_kind["identity"][0] == pytest.approx(0.0, abs=1e-3)
    assert by_kind["blur"] == sorted(by_kind["blur"]) and by_kind["noise"] == sorted(by_kind["noise"])
    assert by_kind["other split"][0] < 0.05 * by_kind["uniform"][0]
    assert by_kind["other split"][0] < by_kind["blur"][0]
    # and against the train reference, as the issue phrases it
    train_ref = metrics.fid(load_mnist_uint8(train=False)[0][:2000], reference="train")
    noise_ref = metrics.fid(torch.randint(0, 256, (2000, 1, 28, 28), dtype=torch.uint8), reference="train")
    assert train_ref < 0.05 * noise_ref


def test_fid_inputs(test_images):
    x = test_images[:50].float() / 127.5 - 1
    assert fid(x, value_range="[-1,1]") == pytest.approx(fid(test_images[:50]), rel=1e-6)
    with pytest.raises(ValueError, match="value_range"):
        fid(x)
    with pytest.raises(ValueError, match="valid extractors: mnist-cnn, fashion-cnn, inception"):
        fid(test_images[:50], features="clip")
    with pytest.raises(ValueError, match="only 50"):
        fid(test_images[:50], n=100)


def test_inception_loads_from_env_path(tmp_path, monkeypatch, test_images):
    state = metrics.untrained_fid_inception().state_dict()
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    monkeypatch.setenv(metrics.ENV_INCEPTION, str(path))
    model = metrics.load_inception()
    loaded = dict(model.named_parameters())
    assert torch.equal(loaded["blocks.0.0.conv.weight"], state["Conv2d_1a_3x3.conv.weight"])
    metrics.inception_extractor.cache_clear()
    features = metrics.get_extractor("inception").features(test_images[:3])
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    metrics.inception_extractor.cache_clear()


def test_inception_missing_says_where(tmp_path, monkeypatch):
    monkeypatch.delenv(metrics.ENV_INCEPTION, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InceptionWeightsMissing, match=INCEPTION_FILE) as info:
        metrics.load_inception(download=False)
    assert str(tmp_path) in str(info.value) and metrics.ENV_INCEPTION in str(info.value)
    monkeypatch.setenv(metrics.ENV_INCEPTION, str(tmp_path / "nope.pth"))
    with pytest.raises(InceptionWeightsMissing, match="is not a file"):
        metrics.load_inception()
