"""The built-in metrics against closed forms, brute-force references and (where installed) the
prdc and torch-fidelity packages."""

from __future__ import annotations

import importlib
import math
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ganbench_plugins import metrics as M
from ganbench_plugins import metrics_features as F
from scipy import linalg

from ganbench.evaluate import columns

ROOT = Path(__file__).resolve().parents[1]


def dataset(test, train=None, **attributes):
    """A dataset of the contract's shape with ``test`` (and ``train``) splits."""
    train = test if train is None else train
    shape = tuple(test.shape[1:])
    return SimpleNamespace(shape=shape, splits={"train": train.float(), "valid": test.float(),
                                                "test": test.float()}, **attributes)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- FID -----------------------------------------------------------------------------------

def test_fid_of_diagonal_gaussians_has_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert F.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected,
                                                                                 rel=1e-9)


def _fid_reference(x, y):
    """The formula written out with numpy.cov and scipy's sqrtm."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root)


def test_fid_matches_the_direct_formula_on_random_data_in_coordinates():
    x = torch.randn(400, 5, generator=gen(1)) @ torch.randn(5, 5, generator=gen(2))
    y = torch.randn(300, 5, generator=gen(3)) * 1.5 + 0.3
    metric = M.fid()
    value = metric.compute(y, dataset(x))
    assert value == {"fid": pytest.approx(_fid_reference(x.double().numpy(), y.double().numpy()),
                                          rel=1e-8)}
    assert metric.settings()["n_real"] == 400 and metric.settings()["features"] == "coordinates"


def test_fid_agrees_with_torch_fidelity():
    tf = pytest.importorskip("torch_fidelity.metric_fid")
    x, y = torch.rand(500, 8, generator=gen(4)).double(), torch.randn(400, 8, generator=gen(5)).double()
    stats = [tf.fid_features_to_statistics(t) for t in (x, y)]
    expected = tf.fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]
    assert F.frechet_distance(*F.gaussian_statistics(x), *F.gaussian_statistics(y)) == \
        pytest.approx(expected, rel=1e-7)


def test_fid_of_a_set_with_itself_is_zero():
    x = torch.randn(1000, 10, generator=gen(6))
    assert abs(M.fid().compute(x, dataset(x))["fid"]) < 1e-8


@pytest.mark.filterwarnings("ignore:Matrix is singular")
def test_fid_of_a_singular_covariance_is_finite_and_a_complex_root_is_refused():
    s = np.diag([1.0, 2.0, 0.0])  # rank 2
    assert math.isfinite(F.frechet_distance(np.zeros(3), s, np.ones(3), s))
    with pytest.raises(ValueError, match="imaginary component"):
        F.frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


@pytest.mark.filterwarnings("error")
def test_fid_of_features_with_dead_units_is_the_eigenvalue_formula_without_a_warning():
    # as MNIST's classifier features: 17 of 128 units never active (rank-deficient
    # covariances, whose product scipy's sqrtm calls singular); the reference takes
    # Tr (S1 S2)^(1/2) as the sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), in float64
    g = gen(11)
    a, b = torch.randn(3000, 128, generator=g).relu(), torch.randn(3000, 128, generator=g)
    a[:, :17] = 0
    b = (b @ torch.randn(128, 128, generator=g) / 12).relu()
    b[:, :17] = 0
    (mu1, s1), (mu2, s2) = F.gaussian_statistics(a), F.gaussian_statistics(b)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    trace = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    want = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * trace
    assert F.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-6)


def test_fid_offsets_both_covariances_when_the_root_is_not_finite(monkeypatch):
    calls, real_sqrtm = [], linalg.sqrtm

    def sqrtm(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(F.linalg, "sqrtm", sqrtm)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 0.0])
    got = F.frechet_distance(np.zeros(2), s1, np.zeros(2), s2, eps=0.01)
    root = np.sqrt(np.diag([1.01 * 9.01, 4.01 * 0.01]))
    assert len(calls) == 2 and got == pytest.approx(5 + 9 - 2 * np.trace(root), rel=1e-9)


# ---- KID -----------------------------------------------------------------------------------

def _mmd2_loop(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, one pair at a time."""
    d = len(x[0])
    k = lambda a, b: (sum(p * q for p, q in zip(a, b)) / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_kid_on_whole_small_sets_matches_a_direct_loop():
    x = torch.randn(20, 3, generator=gen(7)).double()
    y = (torch.randn(20, 3, generator=gen(8)) + 0.5).double()
    metric = M.kid_metric()
    value = metric.compute(y.float(), dataset(x.float()))
    expected = _mmd2_loop(x.float().double().tolist(), y.float().double().tolist())
    assert value["kid"] == pytest.approx(expected, rel=1e-6)  # float32 inner products
    assert value["std"] == 0.0 and metric.settings()["subsets_used"] == 1


def test_kid_subsets_are_the_documented_seeded_draws():
    x, y = torch.randn(30, 2, generator=gen(9)).double(), torch.randn(25, 2, generator=gen(10)).double()
    mean, std, subsets, size = F.kid(x, y, n_subsets=4, subset_size=10, seed=3)
    g = gen(3)
    values = []
    for _ in range(4):
        i, j = torch.randperm(30, generator=g)[:10], torch.randperm(25, generator=g)[:10]
        values.append(_mmd2_loop(x[i].tolist(), y[j].tolist()))
    assert (subsets, size) == (4, 10)
    # float32 inner products: within 1e-6 of the spread (this mean is 6% of it)
    assert mean == pytest.approx(np.mean(values), rel=1e-6, abs=1e-6 * np.std(values))
    assert std == pytest.approx(np.std(values), rel=1e-6) and std > 0
    assert F.kid(x, y, n_subsets=4, subset_size=10, seed=4)[0] != mean


def _kid_numpy(x, y, n_subsets, m, seed):
    """KID in float64 numpy from whole kernel matrices, on ``kid``'s documented draws."""
    g, values = gen(seed), []
    for _ in range(n_subsets):
        a = x[torch.randperm(len(x), generator=g)[:m].numpy()]
        b = y[torch.randperm(len(y), generator=g)[:m].numpy()]
        kaa, kbb = (a @ a.T / a.shape[1] + 1) ** 3, (b @ b.T / b.shape[1] + 1) ** 3
        values.append((kaa.sum() - np.trace(kaa) + kbb.sum() - np.trace(kbb)) / (m * (m - 1))
                      - 2 * ((a @ b.T / a.shape[1] + 1) ** 3).mean())
    return np.mean(values), np.std(values)


@pytest.mark.parametrize("case", ["same", "shifted", "collapsed"])
def test_kid_at_full_scale_matches_float64_numpy(case):
    """Subsets of 1,000 in 128 dims, as on MNIST (ReLU features): the float32 inner products
    leave the mean and std within 1e-6 of float64's, also when MMD^2 is near 0 (one
    distribution) and for a collapsed set of 20 points."""
    g = gen(40)
    w = torch.randn(32, 128, generator=g)
    real = torch.relu(torch.randn(5000, 32, generator=g) @ w).double()
    fake = torch.relu(torch.randn(5000, 32, generator=g) @ w + (0.5 if case == "shifted" else 0))
    fake = (fake[:20].repeat(250, 1) if case == "collapsed" else fake).double()
    mean, std, subsets, size = F.kid(real, fake, n_subsets=20, subset_size=1000, seed=0)
    expected_mean, expected_std = _kid_numpy(real.numpy(), fake.numpy(), 20, 1000, 0)
    assert (subsets, size) == (20, 1000)
    assert mean == pytest.approx(expected_mean, rel=1e-6)
    assert std == pytest.approx(expected_std, rel=1e-6)


def test_kid_kept_real_sums_are_those_of_each_draw(monkeypatch):
    """The real subsets' kernel sums are kept per process: a later evaluation with another
    number of samples, seed or number of subsets draws other subsets and must not reuse them."""
    from ganbench_plugins.kept import clear_kept

    monkeypatch.setenv("GANBENCH_CACHE", "off")
    clear_kept()
    real = torch.randn(60, 4, generator=gen(42))
    for n_fake, seed, subsets in [(50, 0, 3), (40, 0, 3), (40, 1, 3), (40, 1, 5), (50, 0, 3)]:
        fake = torch.randn(n_fake, 4, generator=gen(n_fake))
        got = M.kid_metric(n_real=60, subsets=subsets, subset_size=20, seed=seed).compute(
            fake, dataset(real))
        mean, std, used, _ = F.kid(real.double(), fake.double(), subsets, 20, seed)
        assert (got["kid"], got["std"], used) == (mean, std, subsets)
    clear_kept()


def test_kid_agrees_with_torch_fidelity_on_one_subset():
    tf = pytest.importorskip("torch_fidelity.metric_kid")
    x, y = torch.rand(50, 6, generator=gen(11)).double(), torch.rand(50, 6, generator=gen(12)).double()
    expected = tf.kernel_mmd(x.numpy(), y.numpy(), kid_kernel="poly", kid_kernel_poly_degree=3,
                             kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    assert float(F.mmd2_unbiased(x, y)) == pytest.approx(float(expected), rel=1e-9)


# ---- precision, recall, density, coverage ------------------------------------------------

def _prdc_brute(real, fake, k_pr, k_dc):
    """Full distance matrices in numpy; radii are the k-th neighbour other than the point."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    rr, ff, rf = dist(real, real), dist(fake, fake), dist(real, fake)
    r_real = {k: np.sort(rr, axis=1)[:, k] for k in (k_pr, k_dc)}
    r_fake = np.sort(ff, axis=1)[:, k_pr]
    return {"precision": (rf < r_real[k_pr][:, None]).any(0).mean(),
            "recall": (rf < r_fake[None, :]).any(1).mean(),
            "density": (rf < r_real[k_dc][:, None]).sum(0).mean() / k_dc,
            "coverage": (rf.min(1) < r_real[k_dc]).mean()}


def _real_and_fake():
    real = torch.randn(120, 4, generator=gen(13)).double()
    fake = (torch.randn(90, 4, generator=gen(14)) * 1.3 + 0.4).double()
    return real, fake


def test_prdc_in_chunks_matches_a_brute_force_computation():
    real, fake = _real_and_fake()
    expected = _prdc_brute(real.numpy(), fake.numpy(), 3, 5)
    for chunk in (37, F.CHUNK_ELEMENTS):  # many small chunks, and one
        got = F.prdc(real, fake, k_pr=3, k_dc=5, chunk_elements=chunk)
        assert got == pytest.approx(expected, rel=1e-12)
    assert 0 < expected["precision"] < 1 and 0 < expected["coverage"] < 1


def test_prdc_agrees_with_the_prdc_package():
    prdc = pytest.importorskip("prdc")
    real, fake = _real_and_fake()
    ours = M.prdc_metric(k_pr=3, k_dc=5).compute(fake.float(), dataset(real.float()))
    pr = prdc.compute_prdc(real.float().numpy(), fake.float().numpy(), nearest_k=3)
    dc = prdc.compute_prdc(real.float().numpy(), fake.float().numpy(), nearest_k=5)
    assert ours == pytest.approx({"precision": pr["precision"], "recall": pr["recall"],
                                  "density": dc["density"], "coverage": dc["coverage"]}, abs=1e-9)


@pytest.mark.parametrize("case", ["spread", "duplicates", "grid"])
@pytest.mark.parametrize("dense", [0.0, 0.5, math.inf])  # always whole chunks, as shipped, never
def test_prdc_over_many_blocks_matches_a_brute_force_computation(case, dense, monkeypatch):
    """Sets of several 64-column blocks, where PRDC reads only the blocks whose minimum can
    hold a pair, or compares a chunk whole: samples spread like the real ones, samples
    repeated (k-NN radii 0; the radii's candidates measured again among the close points),
    and coordinates on a grid (distances exactly equal to radii: strict inequalities)."""
    g = gen(31)
    real, fake = torch.randn(700, 6, generator=g), torch.randn(650, 6, generator=g) * 1.2 + 0.3
    if case == "duplicates":
        fake = torch.randn(25, 6, generator=g).repeat(26, 1)
    elif case == "grid":
        real = torch.randint(-2, 3, (700, 6), generator=g).float()
        fake = torch.randint(-2, 3, (650, 6), generator=g).float()
    real, fake = real.double(), fake.double()
    expected = _prdc_brute(real.numpy(), fake.numpy(), 3, 5)
    monkeypatch.setattr(F, "DENSE", dense)
    for chunk in (3000, F.CHUNK_ELEMENTS):  # chunks of 4 rows, and one
        assert F.prdc(real, fake, k_pr=3, k_dc=5, chunk_elements=chunk) == \
            pytest.approx(expected, rel=1e-12)
    assert 0 < expected["recall"] < 1 or case == "duplicates"  # (their balls are points)
    assert 0 < expected["coverage"] < 1


@pytest.mark.parametrize("n_real, n_fake", [(6, 6), (63, 64), (65, 130), (130, 63)])
def test_prdc_of_sets_smaller_than_a_block_or_not_whole_blocks_matches_brute_force(n_real, n_fake):
    g = gen(n_real + n_fake)
    real, fake = torch.randn(n_real, 3, generator=g).double(), torch.randn(n_fake, 3, generator=g).double()
    expected = _prdc_brute(real.numpy(), fake.numpy(), 2, 3)
    for chunk in (1, 100, F.CHUNK_ELEMENTS):
        assert F.prdc(real, fake, k_pr=2, k_dc=3, chunk_elements=chunk) == \
            pytest.approx(expected, rel=1e-12)


def test_knn_radii_of_duplicates_and_ties_match_sorting_every_distance():
    g = gen(32)
    x = torch.cat([torch.randn(30, 5, generator=g).repeat(9, 1),  # 9 copies of each
                   torch.randint(-1, 2, (200, 5), generator=g).float()]).double()
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1).sort(1).values
    for chunk in (1000, F.CHUNK_ELEMENTS):
        got = F.knn_sq_radii(x, [1, 3, 8], chunk_elements=chunk)
        for k in (1, 3, 8):
            assert torch.equal(got[k], d[:, k])
    assert (d[:270, 8] == 0).all() and (d[270:, 3] > 0).any()


# ---- feature spaces and applies_to ---------------------------------------------------------

def test_features_come_from_the_dataset_in_batches_and_are_recorded():
    calls = []

    def features(x):
        calls.append(len(x))
        return x[:, :2] * 2

    x, y = torch.rand(50, 30, generator=gen(15)), torch.rand(40, 30, generator=gen(16))
    data = dataset(x, features=features, feature_extractor_id="digits-v1 sha256:abc")
    metric = M.fid(batch_size=16)
    assert metric.applies_to(data) is None
    got = metric.compute(y, data)["fid"]
    assert got == pytest.approx(_fid_reference(2 * x[:, :2].double().numpy(),
                                               2 * y[:, :2].double().numpy()), rel=1e-8)
    assert max(calls) == 16 and sum(calls) == 90
    assert metric.settings()["feature_extractor_id"] == "digits-v1 sha256:abc"


def test_every_metric_says_why_it_does_not_apply():
    images = dataset(torch.rand(10, 784, generator=gen(17)))
    for metric in (M.fid(), M.kid_metric(), M.prdc_metric()):
        reason = metric.applies_to(images)
        assert "no feature extractor" in reason and "784 dims" in reason and "\n" not in reason
        with pytest.raises(ValueError, match="no feature extractor"):
            metric.compute(torch.rand(10, 784), images)
        assert metric.applies_to(dataset(torch.rand(10, 16))) is None
    assert "`modes` and `mode_std`" in M.modes().applies_to(images)
    wrong = dataset(torch.rand(10, 3), modes=torch.zeros(4, 2), mode_std=0.1)
    assert "K >= 1 and d = 3, got shape (4, 2)" in M.modes().applies_to(wrong)
    empty = dataset(torch.rand(10, 2), modes=torch.zeros(0, 2), mode_std=0.0)
    assert "got shape (0, 2)" in M.modes().applies_to(empty)
    flat = dataset(torch.rand(10, 2), modes=torch.zeros(3, 2), mode_std=0.0)
    assert "`mode_std` must be positive" in M.modes().applies_to(flat)
    assert "`classify(x)`" in M.classifier_score().applies_to(images)
    assert "`classify_channels(x)`" in M.stacked_modes().applies_to(images)
    assert M.memorisation().applies_to(images) is None


# ---- modes ---------------------------------------------------------------------------------

def _ring(k=8, std=0.02):
    angles = torch.arange(k) * (2 * math.pi / k)
    centres = 2 * torch.stack([angles.cos(), angles.sin()], 1)
    return dataset(centres, modes=centres, mode_std=std), centres


def test_modes_counts_hq_and_reverse_kl_on_constructed_samples():
    data, c = _ring()
    off = torch.tensor([0.059, 0.0])  # inside 3 std = 0.06; 0.061 is not
    samples = torch.cat([c[0] + off.repeat(10, 1), c[1] - off.repeat(5, 1), c[2].repeat(5, 1),
                         c[3] + torch.tensor([[0.0, 0.061]]).repeat(4, 1), torch.zeros(1, 2)])
    got = M.modes().compute(samples, data)
    assert got["modes"] == 3
    assert got["hq"] == pytest.approx(20 / 25)
    assert got["reverse_kl"] == pytest.approx(0.5 * math.log(0.5 * 8) + 0.5 * math.log(0.25 * 8))


def test_modes_uniform_cover_has_zero_kl_and_no_quality_has_the_largest():
    data, c = _ring()
    assert M.modes().compute(c.repeat(3, 1), data) == {"modes": 8, "hq": 1.0,
                                                       "reverse_kl": pytest.approx(0, abs=1e-12)}
    assert M.modes().compute(torch.zeros(5, 2), data)["reverse_kl"] == pytest.approx(math.log(8))
    assert M.modes().n_samples == 2500


# ---- classifier score ----------------------------------------------------------------------

def _classifying(classify, n_classes=10):
    return dataset(torch.zeros(4, 1), classify=classify)


def test_classifier_score_of_uniform_one_hot_predictions_is_the_number_of_classes():
    one_hot = _classifying(lambda x: torch.nn.functional.one_hot(x[:, 0].long(), 10).float())
    samples = (torch.arange(200) % 10).float()[:, None]
    metric = M.classifier_score(batch_size=64)
    assert metric.compute(samples, one_hot) == {"classifier-score": pytest.approx(10.0),
                                                "std": pytest.approx(0.0, abs=1e-12)}
    flat = _classifying(lambda x: torch.full((len(x), 10), 0.1))
    assert metric.compute(samples, flat)["classifier-score"] == pytest.approx(1.0)


def test_classifier_score_agrees_with_torch_fidelity_and_refuses_logits():
    tf = pytest.importorskip("torch_fidelity.metric_isc")
    p = torch.distributions.Dirichlet(torch.full((7,), 0.3)).sample((300,))
    data = _classifying(lambda x: p[x[:, 0].long()])
    samples = torch.arange(300).float()[:, None]
    expected = tf.isc_features_to_metric(p.double().log(), splits=10, shuffle=False)
    got = M.classifier_score().compute(samples, data)
    assert got == pytest.approx({"classifier-score": expected["inception_score_mean"],
                                 "std": expected["inception_score_std"]}, rel=1e-6)
    logits = _classifying(lambda x: torch.randn(len(x), 7))
    with pytest.raises(ValueError, match="not logits"):
        M.classifier_score().compute(samples, logits)


# ---- stacked MNIST -------------------------------------------------------------------------

def test_stacked_modes_counts_distinct_triples_and_their_kl():
    data = dataset(torch.zeros(4, 3), classify_channels=lambda x: x.long())
    every = torch.tensor([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    metric = M.stacked_modes()
    assert metric.compute(every.float(), data) == {"stacked-modes": 1000,
                                                   "kl": pytest.approx(0, abs=1e-12)}
    ten = every[:10].repeat(7, 1).float()
    assert metric.compute(ten, data) == {"stacked-modes": 10, "kl": pytest.approx(math.log(100))}
    assert metric.n_samples == 26000
    floats = dataset(torch.zeros(4, 3), classify_channels=lambda x: x)
    with pytest.raises(ValueError, match="integer digit labels"):
        metric.compute(ten, floats)


# ---- memorisation --------------------------------------------------------------------------

def test_memorisation_flags_copies_of_training_points_and_not_fresh_points():
    train = torch.rand(500, 784, generator=gen(18))
    fresh = torch.rand(60, 784, generator=gen(19))
    noisy = (train[20:40] + 0.005 * torch.randn(20, 784, generator=gen(20))).clamp(0, 1)
    samples = torch.cat([train[:20], noisy, fresh])
    metric = M.memorisation(n_ref=200)
    got = metric.compute(samples, dataset(torch.rand(10, 784), train=train))
    assert got["near_copies"] == pytest.approx(40 / 100)
    assert 0.8 < got["median_ratio"] < 1.2  # fresh points are as far as training points are
    assert M.memorisation(n_ref=200).compute(fresh, dataset(fresh, train=train))["near_copies"] == 0
    assert metric.settings()["n_train"] == 500 and metric.settings()["n_ref"] == 200


def test_memorisation_excludes_self_matches_and_caps_the_training_points():
    train = torch.rand(300, 20, generator=gen(21))
    metric = M.memorisation(n_train=100)
    got = metric.compute(train[150:160], dataset(torch.rand(5, 20), train=train))
    assert got["near_copies"] == 0  # not among the first 100 searched
    assert metric.settings()["n_train"] == 100 and metric.settings()["train_nn_median"] > 0
    assert metric.compute(train[:10], dataset(torch.rand(5, 20), train=train))["near_copies"] == 1


# ---- registration and columns --------------------------------------------------------------

def _entry_points():
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    return {name: value for name, value in table["ganbench.metrics"].items()
            if value.startswith("ganbench_plugins.metrics")}


def test_the_entry_points_name_factories_whose_values_rank_as_declared():
    mixture, _ = _ring()
    features = dataset(torch.rand(40, 3), classify=lambda x: torch.softmax(x, 1),
                       classify_channels=lambda x: (x * 9.99).long(), modes=torch.rand(4, 3),
                       mode_std=0.3)
    eps = _entry_points()
    assert set(eps) == {"fid", "kid", "prdc", "modes", "classifier-score", "stacked-modes",
                        "memorisation"}
    for name, value in eps.items():
        module, attr = value.split(":")
        metric = getattr(importlib.import_module(module), attr)()
        assert metric.applies_to(features) is None, name
        values = metric.compute(torch.rand(30, 3), features)
        assert all(isinstance(v, float) and math.isfinite(v) for v in values.values()), name
        assert set(metric.higher_is_better) <= set(values), name
        assert isinstance(metric.settings(), dict)


def test_columns_of_each_metric():
    expected = {
        "fid": {"fid"}, "kid": {"kid", "kid_std"},
        "prdc": {"prdc_precision", "prdc_recall", "prdc_density", "prdc_coverage"},
        "modes": {"modes", "modes_hq", "modes_reverse_kl"},
        "classifier-score": {"classifier_score", "classifier_score_std"},
        "stacked-modes": {"stacked_modes", "stacked_modes_kl"},
        "memorisation": {"memorisation_near_copies", "memorisation_median_ratio"},
    }
    data = dataset(torch.rand(40, 3), classify=lambda x: torch.softmax(x, 1),
                   classify_channels=lambda x: (x * 9.99).long(), modes=torch.rand(4, 3),
                   mode_std=0.3)
    for name, value in _entry_points().items():
        module, attr = value.split(":")
        values = getattr(importlib.import_module(module), attr)().compute(torch.rand(30, 3), data)
        assert set(columns(name, values)) == expected[name], name


@pytest.mark.parametrize("structured", [True, False])
def test_the_nearest_neighbour_index_is_exact(structured):
    """The pruned search against brute force, on low-rank data plus noise (where the bound
    prunes) and on unstructured data (where it falls back), with and without exclusions."""
    g = gen(22)
    if structured:
        basis = torch.randn(12, 300, generator=g)
        y = torch.randn(3000, 12, generator=g) @ basis + 0.3 * torch.randn(3000, 300, generator=g)
        x = torch.cat([torch.randn(200, 12, generator=g) @ basis
                       + 0.3 * torch.randn(200, 300, generator=g), y[:50],
                       y[50:60] + 1e-3 * torch.randn(10, 300, generator=g)])
    else:
        y, x = torch.rand(3000, 300, generator=g), torch.rand(200, 300, generator=g)
    expected = torch.cdist(x.double(), y.double()).min(1).values
    got = M.nearest_distances(x, y)
    assert torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-4)
    assert not structured or (got[200:250] == 0).all()  # copies are at distance 0
    ref = torch.randperm(3000, generator=g)[:300]
    d = torch.cdist(y[ref].double(), y.double())
    d[torch.arange(300), ref] = math.inf
    got = M.nearest_distances(y[ref], y, exclude=ref)
    assert torch.allclose(got.double(), d.min(1).values, rtol=1e-5, atol=1e-4)


def test_the_nearest_neighbour_index_is_exact_where_pairs_fill_most_blocks():
    """Clustered data (40 clusters, shuffled): the pairs below a query's limit are about 2%
    of a chunk's, spread over most of its 64-column blocks; the chunk is then compared whole,
    never handed to the brute-force search (GEMM rounding: copies would not be at 0)."""
    g = gen(41)
    centres = torch.randn(40, 64, generator=g) * 10
    y = centres[torch.arange(40).repeat_interleave(50)] + torch.randn(2000, 64, generator=g)
    y = y[torch.randperm(2000, generator=g)]
    x = torch.cat([y[:50], centres[torch.randint(0, 40, (150,), generator=g)]
                   + torch.randn(150, 64, generator=g)])
    expected = torch.cdist(x.double(), y.double(),
                           compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    got = M.nearest_distances(x, y)
    assert (got[:50] == 0).all()
    assert torch.allclose(got.double(), expected, rtol=1e-5, atol=0)


def test_kid_blocked_kernel_sums_match_the_whole_matrices():
    x, y = torch.randn(300, 5, generator=gen(23)).double(), torch.randn(257, 5, generator=gen(24)).double()
    def whole(a, b):
        kaa, kbb = F.polynomial_kernel(a, a), F.polynomial_kernel(b, b)
        return ((kaa.sum() - kaa.diagonal().sum()) / (len(a) * (len(a) - 1))
                + (kbb.sum() - kbb.diagonal().sum()) / (len(b) * (len(b) - 1))
                - 2 * F.polynomial_kernel(a, b).mean())
    assert float(F.mmd2_unbiased(x, y)) == pytest.approx(float(whole(x, y)), rel=1e-10)


def test_reduced_float32_matmul_precision_switches_the_searches_to_float64(monkeypatch):
    """The float32 error bounds of prdc and memorisation assume full float32 GEMMs: with TF32
    or bfloat16 allowed they compute in float64, with the same answers."""
    real, fake = _real_and_fake()
    expected = _prdc_brute(real.numpy(), fake.numpy(), 3, 5)
    g = gen(25)
    y, x = torch.rand(400, 64, generator=g), torch.rand(50, 64, generator=g)
    nearest = torch.cdist(x.double(), y.double()).min(1).values
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "medium")
    assert F.gemm_dtype() == torch.float64
    assert F.prdc(real, fake, k_pr=3, k_dc=5) == pytest.approx(expected, rel=1e-12)
    assert torch.allclose(M.nearest_distances(x, y).double(), nearest, rtol=1e-5, atol=1e-4)
