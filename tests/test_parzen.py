"""The Parzen-window estimator against a direct float64 reference, its invariants, its errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

import ganbench.parzen as parzen_module
from ganbench.errors import DataError
from ganbench.parzen import (
    DEFAULT_SIGMAS,
    ParzenResult,
    load_samples,
    parzen_log_density,
    parzen_log_likelihood,
)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# --- The reference: float64, exact differences (no GEMM expansion), scipy's logsumexp. ---


def reference_log_density(points, centres, sigma):
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    centres = np.asarray(centres, dtype=np.float64).reshape(len(centres), -1)
    d2 = cdist(points, centres, "sqeuclidean")
    d = points.shape[1]
    return (
        logsumexp(-d2 / (2 * sigma**2), axis=1)
        - math.log(len(centres))
        - d * math.log(sigma * math.sqrt(2 * math.pi))
    )


def reference_parzen(samples, valid, test, sigmas=DEFAULT_SIGMAS):
    scores = [reference_log_density(valid, samples, s).mean() for s in sigmas]
    sigma = float(sigmas[int(np.argmax(scores))])
    values = reference_log_density(test, samples, sigma)
    return sigma, values, scores


def uniform(seed, d, n_samples=500, n_valid=200, n_test=300):
    rng = np.random.default_rng(seed)
    return (rng.random((n_samples, d)), rng.random((n_valid, d)), rng.random((n_test, d)))


def assert_matches_reference(result, samples, valid, test, sigmas=DEFAULT_SIGMAS):
    sigma, values, scores = reference_parzen(samples, valid, test, sigmas)
    assert result.sigma == sigma
    assert np.all(np.isfinite(result.test_log_likelihoods))
    assert abs(result.mean - values.mean()) < 0.01
    np.testing.assert_allclose(result.test_log_likelihoods, values, rtol=0, atol=0.01)
    np.testing.assert_allclose(list(result.valid_scores.values()), scores, rtol=0, atol=0.01)


# --- Accuracy against the reference. ---


@pytest.mark.parametrize("d", [1, 2, 10, 784, 3072])
def test_matches_float64_reference_on_unit_cube(d):
    samples, valid, test = uniform(d, d)
    result = parzen_log_likelihood(samples, valid, test)
    assert_matches_reference(result, samples, valid, test)


@pytest.mark.parametrize("d", [2, 784])
def test_far_from_every_kernel_stays_finite_and_exact(d):
    samples, valid, test = uniform(d, d)
    # 20 units from the data: at sigma = 0.1 every exponent is below -20000.
    away = np.zeros(d)
    away[0] = 20.0
    valid, test = valid + away, test + away
    with np.errstate(divide="ignore"):
        exponents = -cdist(test[:5], samples, "sqeuclidean").astype(np.float32) / np.float32(0.02)
        naive = np.log(np.exp(exponents).sum(axis=1))
    assert np.all(np.isneginf(naive))  # what exp-then-log in float32 gives
    result = parzen_log_likelihood(samples, valid, test)
    assert_matches_reference(result, samples, valid, test)


def test_translated_and_image_shaped_data():
    rng = np.random.default_rng(1)
    samples = rng.random((400, 1, 12, 12)).astype(np.float32) + 1000
    valid = rng.random((150, 1, 12, 12)).astype(np.float32) + 1000
    test = rng.random((200, 1, 12, 12)).astype(np.float32) + 1000
    result = parzen_log_likelihood(samples, valid, test)
    assert_matches_reference(result, samples, valid, test)


def test_near_duplicates_of_the_samples():
    samples, valid, test = uniform(3, 784)
    test = samples[:300] + 1e-3 * np.random.default_rng(3).standard_normal((300, 784))
    result = parzen_log_likelihood(samples, valid, test)
    assert_matches_reference(result, samples, valid, test)


def test_binary_images_like_mnist():
    rng = np.random.default_rng(4)
    prototypes = rng.random((10, 784)) < 0.2

    def draw(n):
        flips = rng.random((n, 784)) < 0.03
        return (prototypes[rng.integers(0, 10, n)] ^ flips).astype(np.uint8)

    samples, valid, test = draw(500), draw(200), draw(300)
    result = parzen_log_likelihood(samples, valid, test)
    assert_matches_reference(result, samples, valid, test)


@pytest.mark.parametrize("centre_block", [70, 1100])
def test_streaming_over_blocks_of_centres(monkeypatch, centre_block):
    # Blocks of centres force the streaming logsumexp (70: without column chunks in _row_max).
    monkeypatch.setattr(
        parzen_module, "_block_sizes", lambda n_points, *_: (min(n_points, 64), centre_block)
    )
    samples, valid, test = uniform(5, 50, n_samples=2500, n_valid=50, n_test=60)
    result = parzen_log_likelihood(samples, valid, test)
    assert_matches_reference(result, samples, valid, test)
    valid_far, test_far = valid + 3.0, test + 3.0
    result = parzen_log_likelihood(samples, valid_far, test_far)
    assert_matches_reference(result, samples, valid_far, test_far)


def test_block_sizes_respect_the_memory_budget():
    budget = parzen_module._CPU_BUDGET_BYTES
    cpu = torch.device("cpu")
    for n_centres in (10_000, 10_000_000):
        points, centres = parzen_module._block_sizes(10_000, n_centres, 784, 8, cpu, None)
        assert points >= 256 and centres <= n_centres
        assert points * centres * 8 + points * 24 * 784 <= budget
    assert parzen_module._block_sizes(10_000, 10_000_000, 784, 4, cpu, None)[1] < 10_000_000
    assert parzen_module._block_sizes(100, 500, 784, 4, cpu, None) == (100, 500)


@pytest.mark.parametrize("n", [2100, 2003])
def test_row_max_finds_the_maximum_and_its_column(n):
    rng = np.random.default_rng(15)
    e = torch.from_numpy(rng.standard_normal((50, n)).astype(np.float32))
    e[3, n - 1] = 10.0
    e[4, [7, 900]] = 10.0  # a tie: either column will do
    values, index = parzen_module._row_max(e, on_cpu=True)
    expected_values, _ = e.max(dim=1)
    torch.testing.assert_close(values, expected_values)
    torch.testing.assert_close(e.gather(1, index[:, None])[:, 0], expected_values)
    assert index[3] == n - 1 and index[4] in (7, 900)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 10_000])
def test_batch_size_does_not_change_the_result(batch_size):
    samples, valid, test = uniform(6, 30, n_samples=200, n_valid=40, n_test=50)
    expected = parzen_log_density(test, samples, DEFAULT_SIGMAS)
    got = parzen_log_density(test, samples, DEFAULT_SIGMAS, batch_size=batch_size)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_huge_values_fall_back_to_float64():
    samples, valid, test = uniform(7, 10, n_samples=100, n_valid=30, n_test=40)
    scale = 1e16
    result = parzen_log_likelihood(samples * scale, valid * scale, test * scale)
    _, values, _ = reference_parzen(samples * scale, valid * scale, test * scale)
    assert np.all(np.isfinite(result.test_log_likelihoods))
    np.testing.assert_allclose(result.test_log_likelihoods, values, rtol=1e-9)


def test_ignores_a_lossy_global_matmul_setting():
    # Training code may allow bf16/TF32 matmuls; the estimator must not inherit them.
    backend = torch.backends.mkldnn.matmul
    previous = backend.fp32_precision
    backend.fp32_precision = "bf16"
    try:
        samples, valid, test = uniform(8, 784, n_samples=300, n_valid=50, n_test=60)
        result = parzen_log_likelihood(samples.astype(np.float32), valid, test)
        assert backend.fp32_precision == "bf16"  # restored after the call
    finally:
        backend.fp32_precision = previous
    assert_matches_reference(result, samples.astype(np.float32), valid, test)


def test_density_shape_dtype_and_tensor_inputs():
    samples, _, test = uniform(9, 6, n_samples=50, n_test=20)
    sigmas = [0.2, 0.5]
    out = parzen_log_density(torch.from_numpy(test), torch.from_numpy(samples), sigmas)
    assert out.shape == (2, 20) and out.dtype == torch.float64
    for k, s in enumerate(sigmas):
        np.testing.assert_allclose(
            out[k].numpy(), reference_log_density(test, samples, s), atol=1e-4
        )
    scalar = parzen_log_density(test, samples, 0.5)
    torch.testing.assert_close(scalar[0], out[1], rtol=0, atol=1e-5)


# --- The procedure's bookkeeping. ---


def test_result_fields_stderr_and_sigma_choice():
    samples, valid, test = uniform(10, 5, n_samples=200, n_valid=60, n_test=80)
    result = parzen_log_likelihood(samples, valid, test)
    values = result.test_log_likelihoods
    assert isinstance(result, ParzenResult)
    assert values.dtype == np.float64 and values.shape == (80,)
    assert result.mean == pytest.approx(values.mean())
    assert result.stderr == pytest.approx(np.std(values, ddof=0) / math.sqrt(80))
    assert list(result.valid_scores) == [float(s) for s in DEFAULT_SIGMAS]
    assert result.sigma == max(result.valid_scores, key=result.valid_scores.get)
    assert (result.n_samples, result.n_valid, result.n_test) == (200, 60, 80)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.sigma = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        values[0] = 0.0  # read-only, like the rest of the result


def test_to_record_is_plain_python():
    samples, valid, test = uniform(11, 3, n_samples=50, n_valid=20, n_test=20)
    record = parzen_log_likelihood(samples, valid, test, sigmas=[0.3, 0.6]).to_record()
    assert set(record) == {
        "parzen_mean",
        "parzen_stderr",
        "parzen_sigma",
        "parzen_n_samples",
        "parzen_n_valid",
        "parzen_n_test",
    }
    assert all(type(v) is float for k, v in record.items() if not k.startswith("parzen_n_"))
    assert all(type(v) is int for k, v in record.items() if k.startswith("parzen_n_"))
    assert record["parzen_sigma"] in (0.3, 0.6)


def test_default_grid_is_the_papers():
    np.testing.assert_array_equal(DEFAULT_SIGMAS, np.logspace(-1, 0, 10))


# --- Invariants (hypothesis). ---


@st.composite
def small_problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    d = draw(st.integers(1, 12))
    n_samples = draw(st.integers(1, 40))
    n_points = draw(st.integers(2, 20))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    return rng.random((n_samples, d)) * scale, rng.random((n_points, d)) * scale, rng


INVARIANCE = settings(max_examples=25, deadline=None)
TOLERANCE = 2e-3  # nats, per point and sigma: float32 distances, exact nearest kernel


@INVARIANCE
@given(small_problems())
def test_permuting_the_samples_changes_nothing(problem):
    samples, points, rng = problem
    expected = parzen_log_density(points, samples, DEFAULT_SIGMAS)
    shuffled = parzen_log_density(points, samples[rng.permutation(len(samples))], DEFAULT_SIGMAS)
    torch.testing.assert_close(shuffled, expected, rtol=0, atol=TOLERANCE)


@INVARIANCE
@given(small_problems())
def test_duplicating_every_sample_changes_nothing(problem):
    samples, points, _ = problem
    expected = parzen_log_density(points, samples, DEFAULT_SIGMAS)
    doubled = parzen_log_density(points, np.concatenate([samples, samples]), DEFAULT_SIGMAS)
    torch.testing.assert_close(doubled, expected, rtol=0, atol=TOLERANCE)


@INVARIANCE
@given(small_problems(), st.floats(-1000, 1000))
def test_translating_everything_changes_nothing(problem, offset):
    samples, points, rng = problem
    shift = offset + rng.random(samples.shape[1])
    expected = parzen_log_density(points, samples, DEFAULT_SIGMAS)
    moved = parzen_log_density(points + shift, samples + shift, DEFAULT_SIGMAS)
    torch.testing.assert_close(moved, expected, rtol=0, atol=TOLERANCE)


@INVARIANCE
@given(small_problems())
def test_procedure_agrees_with_the_reference_on_small_problems(problem):
    samples, points, _ = problem
    valid, test = points, points[::-1] + 0.01
    result = parzen_log_likelihood(samples, valid, test)
    _, values, scores = reference_parzen(samples, valid, test)
    # Sigma may legitimately differ on a near-tie; the score of the one chosen may not.
    assert result.valid_scores[result.sigma] == pytest.approx(max(scores), abs=TOLERANCE)
    chosen = reference_log_density(test, samples, result.sigma)
    np.testing.assert_allclose(result.test_log_likelihoods, chosen, rtol=0, atol=TOLERANCE)


# --- Bad input: DataError naming the argument. ---

GOOD = np.random.default_rng(12).random((20, 4))


@pytest.mark.parametrize(
    ("samples", "valid", "test", "sigmas", "named"),
    [
        (GOOD, GOOD[:, :3], GOOD, None, "valid"),
        (GOOD, GOOD, GOOD.reshape(10, 8), None, "test"),
        (np.empty((0, 4)), GOOD, GOOD, None, "samples"),
        (GOOD, np.empty((0, 4)), GOOD, None, "valid"),
        (GOOD, GOOD, np.empty((5, 0)), None, "test"),
        (np.where(GOOD > 0.9, np.nan, GOOD), GOOD, GOOD, None, "samples"),
        (GOOD, np.where(GOOD > 0.9, np.inf, GOOD), GOOD, None, "valid"),
        (GOOD, GOOD, torch.tensor(GOOD).index_fill(0, torch.tensor([3]), -math.inf), None, "test"),
        (GOOD, GOOD, GOOD, [0.1, -0.5], "sigmas[1]"),
        (GOOD, GOOD, GOOD, [0.0], "sigmas[0]"),
        (GOOD, GOOD, GOOD, [float("nan")], "sigmas[0]"),
        (GOOD, GOOD, GOOD, [], "sigmas"),
        (GOOD, GOOD, GOOD[:1], None, "test"),
        (np.array([["a", "b"]]), GOOD, GOOD, None, "samples"),
        (GOOD + 1j, GOOD, GOOD, None, "samples"),
        (np.float64(1.0), GOOD, GOOD, None, "samples"),
    ],
)
def test_bad_input_raises_data_error_naming_the_argument(samples, valid, test, sigmas, named):
    with pytest.raises(DataError) as info:
        parzen_log_likelihood(samples, valid, test, sigmas)
    message = str(info.value)
    assert named in message
    assert "\n" not in message


def test_non_finite_message_counts_them():
    samples = GOOD.copy()
    samples[0, 0] = np.nan
    samples[1, :2] = np.inf
    with pytest.raises(DataError, match=r"samples contains 1 NaN and 2 infinite values"):
        parzen_log_likelihood(samples, GOOD, GOOD)


def test_bad_batch_size_and_density_arguments():
    with pytest.raises(DataError, match="batch_size"):
        parzen_log_likelihood(GOOD, GOOD, GOOD, batch_size=0)
    with pytest.raises(DataError, match="points"):
        parzen_log_density(GOOD[:, :2], GOOD, [0.1])
    with pytest.raises(DataError, match="centres"):
        parzen_log_density(GOOD, GOOD[:0], [0.1])


# --- load_samples. ---


def test_load_samples_round_trips(tmp_path):
    data = np.random.default_rng(13).random((6, 2, 3)).astype(np.float32)
    np.save(tmp_path / "s.npy", data)
    np.savez(tmp_path / "one.npz", anything=data)
    np.savez(tmp_path / "named.npz", samples=data, labels=np.arange(6))
    torch.save(torch.from_numpy(data), tmp_path / "t.pt")
    torch.save({"samples": torch.from_numpy(data), "epoch": torch.tensor(3)}, tmp_path / "d.pt")
    torch.save(torch.from_numpy(data).bfloat16(), tmp_path / "bf16.pt")
    for name in ("s.npy", "one.npz", "named.npz", "t.pt", "d.pt"):
        loaded = load_samples(tmp_path / name)
        assert isinstance(loaded, np.ndarray)
        np.testing.assert_array_equal(loaded, data)
    bf16 = load_samples(str(tmp_path / "bf16.pt"))
    np.testing.assert_allclose(bf16, data, rtol=1e-2)


def test_load_samples_errors(tmp_path):
    data = np.zeros((3, 2))
    np.savez(tmp_path / "several.npz", images=data, labels=data)
    np.savez(tmp_path / "none.npz")
    torch.save({"images": torch.zeros(2)}, tmp_path / "nokey.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "s.csv").write_text("1,2\n")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    cases = {
        "several.npz": "images, labels",
        "none.npz": "no arrays",
        "nokey.pt": "'samples'",
        "list.pt": "list",
        "junk.npy": "cannot read",
        "junk.pt": "cannot read",
        "s.csv": "unknown format",
        "missing.npy": "does not exist",
        "objects.npy": "cannot read",
        "strings.npy": "dtype",
    }
    for name, fragment in cases.items():
        with pytest.raises(DataError, match=fragment) as info:
            load_samples(tmp_path / name)
        assert name in str(info.value)
        assert "\n" not in str(info.value)


# --- CUDA, where there is one. ---


@pytest.mark.gpu
@needs_cuda
def test_cuda_matches_cpu():
    samples, valid, test = uniform(14, 784, n_samples=2000, n_valid=300, n_test=500)
    on_cpu = parzen_log_likelihood(samples, valid, test, device="cpu")
    on_gpu = parzen_log_likelihood(samples, valid, test, device="cuda")
    assert on_gpu.sigma == on_cpu.sigma
    np.testing.assert_allclose(on_gpu.test_log_likelihoods, on_cpu.test_log_likelihoods, atol=1e-3)
    tensors = [torch.from_numpy(a).float().cuda() for a in (samples, valid, test)]
    from_tensors = parzen_log_likelihood(*tensors)  # the device follows the samples
    assert abs(from_tensors.mean - on_cpu.mean) < 0.01
    density = parzen_log_density(tensors[2], tensors[0], [0.2])
    assert density.device.type == "cuda"
