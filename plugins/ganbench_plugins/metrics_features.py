"""Feature-space metrics: FID, KID, and precision / recall / density / coverage.

Each compares a generator's samples with the real examples, the first ``n_real`` of the
dataset's test split (10,000 by default, fewer if the split is smaller), in a feature space:

- the dataset's own ``features(x) -> (N, F)`` when it has one (``FeatureDataset``; MNIST's is
  a small shipped classifier's penultimate layer), recorded with its ``feature_extractor_id``
  (name and sha256) where the dataset provides one; then the real examples' features (and
  PRDC's radii of them) are kept, by content, in the process and on disk (``kept``);
- else, for data of at most 16 dimensions, the (flattened) coordinates themselves;
- else the metric does not apply, and ``applies_to`` says so.

Hand-written with torch and scipy rather than taken from torch-fidelity (whose extractors fetch
weights at run time) or prdc (numpy and scikit-learn, whole 10,000 x 10,000 matrices three times
over, on the CPU): the definitions are the published ones, the computation stays on the
evaluation device, and ``tests/test_metrics.py`` checks each against those packages and against
brute-force references. Statistics are float64; PRDC's distances are float32 GEMMs whose close
calls (within float32's error of a radius) are decided again in float64 (counts: float64's)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch import Tensor

from ganbench_plugins.kept import TENSOR, TENSORS, builtin, fingerprint, float32_exact, kept

COORDINATE_DIMS = 16  # data of at most this many dims is its own feature space
CHUNK_ELEMENTS = 1 << 23  # distance-matrix elements per chunk (32 MB in float32: L3-sized)


# ---- shared plumbing ----------------------------------------------------------------------

def dataset_name(dataset: Any) -> str:
    return str(getattr(dataset, "name", None) or dataset.__class__.__name__)


def dims(dataset: Any) -> int:
    return math.prod(dataset.shape)


def batched(fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int) -> Tensor:
    """``fn`` over ``x`` in batches, without gradients, concatenated on ``x``'s device."""
    with torch.no_grad():
        return torch.cat([torch.as_tensor(fn(x[i:i + batch_size])).to(x.device)
                          for i in range(0, len(x), batch_size)])


def real_examples(dataset: Any, n_real: int | None, device: torch.device) -> Tensor:
    """The first ``n_real`` test examples (all when None or more than there are)."""
    test = dataset.splits["test"]
    return (test if n_real is None else test[:n_real]).to(device)


def real_features(dataset: Any, n_real: int | None, device: torch.device,
                  batch_size: int = 1000) -> Tensor:
    """``extract`` of the first ``n_real`` test examples, kept in the process and on disk where
    the dataset names its extractor (``feature_extractor_id``): by that name, its class, their
    sha256."""
    real = real_examples(dataset, n_real, torch.device("cpu"))
    name = callable(getattr(dataset, "features", None)) and getattr(
        dataset, "feature_extractor_id", None)
    if not name:
        return extract(dataset, real.to(device), batch_size)
    key = (dataset.__class__.__qualname__, str(name), fingerprint(real), str(device), batch_size)
    return kept("real-features", key, lambda: extract(dataset, real.to(device), batch_size),
                disk=TENSOR if builtin(dataset) else None)


def rows_per_chunk(columns: int, chunk_elements: int = CHUNK_ELEMENTS) -> int:
    return max(1, chunk_elements // max(1, columns))


def features_reason(dataset: Any) -> str | None:
    """None if a feature space is known for the dataset, else why not (one line)."""
    if callable(getattr(dataset, "features", None)) or dims(dataset) <= COORDINATE_DIMS:
        return None
    return (f"no feature extractor for dataset {dataset_name(dataset)} with {dims(dataset)} "
            "dims; a dataset plugin can provide features(x)")


def feature_space(dataset: Any) -> dict[str, Any]:
    """What the record keeps about the feature space: ``features`` (``dataset.features`` or
    ``coordinates``) and, where the dataset gives it, ``feature_extractor_id``."""
    if not callable(getattr(dataset, "features", None)):
        return {"features": "coordinates"}
    name = getattr(dataset, "feature_extractor_id", None)
    return {"features": "dataset.features", **({} if name is None else {"feature_extractor_id": name})}


def extract(dataset: Any, x: Tensor, batch_size: int = 1000) -> Tensor:
    """``(N, F)`` float64 features of ``x`` on ``x``'s device; ValueError if none apply."""
    if (reason := features_reason(dataset)) is not None:
        raise ValueError(reason)
    f = batched(dataset.features, x, batch_size) if callable(getattr(dataset, "features", None)) else x
    return f.reshape(len(x), -1).double()


class FeatureMetric:
    """The common part: options, ``applies_to``, features of samples and real examples, and
    ``settings()`` (complete after ``compute``: the real examples used, the feature space)."""

    name = "feature-metric"
    higher_is_better: dict[str, bool] = {}

    def __init__(self, n_real: int = 10000, batch_size: int = 1000, **options: Any):
        if n_real < 2:
            raise ValueError(f"{self.name}: n_real must be at least 2, got {n_real}")
        self.n_real, self.batch_size, self.options = n_real, batch_size, options
        self._used: dict[str, Any] = {}

    def applies_to(self, dataset: Any) -> str | None:
        return features_reason(dataset)

    def compares_with(self) -> dict[str, int | None]:  # the real examples: see real_examples
        return {"test": self.n_real}

    def settings(self) -> dict[str, Any]:
        return {"n_real": self.n_real, **self.options, **self._used}

    def features(self, samples: Tensor, dataset: Any) -> tuple[Tensor, Tensor]:
        """(real, fake) features, float64, on the samples' device."""
        if len(samples) < 2:
            raise ValueError(f"{self.name} needs at least 2 samples, got {len(samples)}")
        real = real_features(dataset, self.n_real, samples.device, self.batch_size)
        self._used = {"n_real": len(real), "n_fake": len(samples), **feature_space(dataset)}
        return real, extract(dataset, samples, self.batch_size)


# ---- FID ----------------------------------------------------------------------------------

def gaussian_statistics(f: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, as numpy.cov) covariance of ``(N, F)`` features, float64 numpy."""
    f = f.double()
    return f.mean(0).cpu().numpy(), np.atleast_2d(torch.cov(f.T).cpu().numpy())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as pytorch-fid computes it: scipy's
    sqrtm; if the product is singular (non-finite root), S + eps*I for both; imaginary parts
    dropped when numerically negligible (diagonal within 1e-3), else ValueError."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # scipy warns of singular products, common in features
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # (dead ReLUs); tests: exact
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: (S1 S2)^(1/2) has an imaginary component "
                             f"{np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


class FID(FeatureMetric):
    """Frechet distance between Gaussians fitted to real and sample features (Heusel et al.
    2017). Key ``fid``, lower is better."""

    name = "fid"
    higher_is_better = {"fid": False}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        real, fake = self.features(samples, dataset)
        return {"fid": frechet_distance(*gaussian_statistics(real), *gaussian_statistics(fake))}


# ---- KID ----------------------------------------------------------------------------------

def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """(x.y / d + 1)^3, the KID kernel."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _kernel_sum(x: Tensor, y: Tensor) -> Tensor:
    """The sum of ``polynomial_kernel(x, y)`` (products in x's dtype, the rest float64)."""
    k = (x @ y.T).double()
    return k.mul_(1 / x.shape[1]).add_(1).pow_(3).sum()


def _self_kernel_sum(x: Tensor, blocks: int = 4) -> Tensor:
    """The sum of ``polynomial_kernel(x, x)`` off its diagonal, from the blocks on and above
    the diagonal (the matrix is symmetric: 10 of 16 blocks' work)."""
    blocks = max(1, min(blocks, len(x) // 64))
    edges = [len(x) * b // blocks for b in range(blocks + 1)]
    parts = [x[edges[b]:edges[b + 1]] for b in range(blocks)]
    total = x.new_zeros((), dtype=torch.float64)
    for a in range(blocks):
        for b in range(a, blocks):
            total = total + (1 if a == b else 2) * _kernel_sum(parts[a], parts[b])
    return total - ((x.double() ** 2).sum(1) / x.shape[1] + 1).pow(3).sum()  # the diagonal


def mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """The unbiased estimate of MMD^2 with the polynomial kernel (Binkowski et al. 2018)."""
    m, n = len(x), len(y)
    return (_self_kernel_sum(x) / (m * (m - 1)) + _self_kernel_sum(y) / (n * (n - 1))
            - 2 * _kernel_sum(x, y) / (m * n))


def kid(real: Tensor, fake: Tensor, n_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float, int, int]:
    """Mean and std (ddof 0, as torch-fidelity) of the unbiased MMD^2 over ``n_subsets``
    subsets of ``subset_size`` of each set, drawn without replacement from a seeded generator;
    the subset size shrinks to the smaller set, and one subset is used when it then covers both
    sets (every subset would be the same). Returns (mean, std, subsets, subset size). Inner
    products are float32 GEMMs (``gemm_dtype``; twice float64's speed), the rest float64: on
    MNIST's features mean and std are all-float64's to 1.2e-7 relative."""
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 examples, got {m}")
    if m == len(real) == len(fake):
        n_subsets = 1
    gen, values = torch.Generator().manual_seed(seed), []
    real, fake = real.to(gemm_dtype()), fake.to(gemm_dtype())
    for _ in range(n_subsets):
        i = torch.randperm(len(real), generator=gen)[:m].to(real.device)
        j = torch.randperm(len(fake), generator=gen)[:m].to(fake.device)
        values.append(mmd2_unbiased(real[i], fake[j]))
    t = torch.stack(values)
    return float(t.mean()), float(t.std(correction=0)), n_subsets, m


class KID(FeatureMetric):
    """Kernel Inception Distance in the dataset's feature space. Keys ``kid`` (the mean over
    subsets; lower is better) and ``std``."""

    name = "kid"
    higher_is_better = {"kid": False}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        real, fake = self.features(samples, dataset)
        mean, std, subsets, size = kid(real, fake, self.options["subsets"],
                                       self.options["subset_size"], self.options["seed"])
        self._used.update(subsets_used=subsets, subset_size_used=size)
        return {"kid": mean, "std": std}


# ---- precision, recall, density, coverage ------------------------------------------------

ROUNDING = 1e-4  # float32 GEMM distances are trusted to this fraction of |a|^2 + |b|^2


def gemm_dtype() -> torch.dtype:
    """float32, unless float32 matrix products may be computed in less (TF32, bfloat16: see
    ``torch.set_float32_matmul_precision``), when the error bounds below would not hold."""
    return torch.float32 if float32_exact() else torch.float64


def _augmented(x: Tensor, sq: Tensor, left: bool) -> Tensor:
    """Rows ``[a, |a|^2, 1]`` (left) or ``[-2 b, 1, |b|^2]`` (right), float32 (``gemm_dtype``):
    their products are the squared distances ``|a|^2 + |b|^2 - 2 a.b`` in one GEMM."""
    one = torch.ones_like(sq)[:, None]
    return (torch.cat([x, sq[:, None], one], 1) if left
            else torch.cat([-2 * x, one, sq[:, None]], 1)).to(gemm_dtype())


def _any(mask: Tensor, dim: int) -> Tensor:
    """``mask.any(dim)`` as the max of its bytes (ten times faster on the CPU)."""
    return mask.view(torch.uint8).amax(dim).bool()


def _exact_sq(a: Tensor, b: Tensor) -> Tensor:
    """Squared distances of the pairs ``a[i], b[i]`` (float64 rows), directly."""
    return ((a - b) ** 2).sum(-1)


def knn_sq_radii(x: Tensor, ks: list[int], chunk_elements: int = CHUNK_ELEMENTS
                 ) -> dict[int, Tensor]:
    """For each k, every point's squared distance (float64) to its k-th nearest neighbour in
    ``x`` other than itself (the (k+1)-th smallest counting its own 0, as the prdc package).
    Candidates come from float32 GEMM distances (the ``top + 8`` nearest), then are measured
    exactly in float64; a row whose candidates might miss a neighbour (the last one within
    float32's error of the k-th) is measured in full."""
    top = max(ks) + 1
    if len(x) < top:
        raise ValueError(f"k-NN radii with k={max(ks)} need more than {max(ks)} points, "
                         f"got {len(x)}")
    x = x.double()
    sq = (x * x).sum(1)
    right, err_b = _augmented(x, sq, left=False).T.contiguous(), ROUNDING * float(sq.max())
    n_cand = min(len(x), top + 8)
    rows = rows_per_chunk(len(x), chunk_elements)  # one buffer for all chunks: no page faults
    buf = right.new_empty(min(rows, len(x)), len(x))
    parts = []
    for i in range(0, len(x), rows):
        a = x[i:i + rows]
        d2 = torch.mm(_augmented(a, sq[i:i + rows], left=True), right, out=buf[:len(a)])
        approx, cand = d2.topk(n_cand, dim=1, largest=False)
        exact = _exact_sq(a[:, None, :], x[cand]).sort(dim=1).values[:, :top]
        if n_cand < len(x):  # any row not in the candidates is at least this far
            floor = approx[:, -1].double() - (ROUNDING * sq[i:i + rows] + err_b)
            for r in (floor <= exact[:, -1]).nonzero()[:, 0].tolist():
                exact[r] = _exact_sq(a[r], x).sort().values[:top]
        parts.append(exact)
    nearest = torch.cat(parts)
    return {k: nearest[:, k] for k in ks}


def prdc(real: Tensor, fake: Tensor, k_pr: int = 3, k_dc: int = 5,
         chunk_elements: int = CHUNK_ELEMENTS,
         real_radii: dict[int, Tensor] | None = None) -> dict[str, float]:
    """Precision and recall (Kynkaanniemi et al. 2019) with k-NN balls of ``k_pr``, density and
    coverage (Naeem et al. 2020) with ``k_dc``; strict inequalities, as the prdc package.

    precision: fraction of samples inside some real example's ball; recall: fraction of real
    examples inside some sample's ball; density: mean number of real balls holding a sample,
    over k_dc; coverage: fraction of real balls holding at least one sample.

    Distances between the sets are float32 GEMM ones; every comparison with a radius that
    float32's error could decide either way is made again with the exact float64 distance, so
    the counts are those of float64 arithmetic. ``real_radii``: real's ``knn_sq_radii``."""
    real, fake = real.double(), fake.double()
    real_r = real_radii or knn_sq_radii(real, sorted({k_pr, k_dc}), chunk_elements)
    fake_r = knn_sq_radii(fake, [k_pr], chunk_elements)[k_pr]  # squared radii
    in_pr = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    in_dc, recalled, covered = 0, [], []  # in_dc: (sample, real ball) pairs, all that density needs
    fake_sq, real_sq = (fake * fake).sum(1), (real * real).sum(1)
    right = _augmented(fake, fake_sq, left=False).T.contiguous()
    err_f = ROUNDING * float(fake_sq.max())
    rows = rows_per_chunk(len(fake), chunk_elements)
    buf = right.new_empty(min(rows, len(real)), len(fake))  # one for all chunks
    for i in range(0, len(real), rows):
        a = real[i:i + rows]
        d2 = torch.mm(_augmented(a, real_sq[i:i + rows], left=True), right, out=buf[:len(a)])
        err = ROUNDING * float(real_sq[i:i + rows].max()) + err_f
        decided = []
        for t in (real_r[k_pr][i:i + rows, None], real_r[k_dc][i:i + rows, None],
                  fake_r[None, :]):
            t32 = t.to(d2.dtype)
            inside = d2 < t32 - err
            unsure = (d2 < t32 + err) ^ inside
            close = _any(unsure, 1).nonzero()[:, 0]  # the rows with a close call
            if len(close):
                r, j = unsure[close].nonzero(as_tuple=True)
                q = close[r]
                inside[q, j] = _exact_sq(a[q], fake[j]) < (t[q, 0] if t.shape[1] == 1 else t[0, j])
            decided.append(inside)
        pr, dc, rc = decided
        in_pr |= _any(pr, 0)
        in_dc += int(torch.count_nonzero(dc))
        recalled.append(_any(rc, 1))
        covered.append(_any(dc, 1))
    return {"precision": float(in_pr.double().mean()),
            "recall": float(torch.cat(recalled).double().mean()),
            "density": in_dc / (k_dc * len(fake)),
            "coverage": float(torch.cat(covered).double().mean())}


class PRDC(FeatureMetric):
    """Precision, recall, density and coverage in the dataset's feature space; all four are
    better when higher (density can exceed 1)."""

    name = "prdc"
    higher_is_better = {"precision": True, "recall": True, "density": True, "coverage": True}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        real, fake = self.features(samples, dataset)
        ks = sorted({self.options["k_pr"], self.options["k_dc"]})
        radii = kept("real-radii", (fingerprint(real), tuple(ks), str(real.device)),
                     lambda: knn_sq_radii(real, ks), disk=TENSORS)
        return prdc(real, fake, self.options["k_pr"], self.options["k_dc"], real_radii=radii)


# ---- factories (the entry points) ---------------------------------------------------------

def fid(n_real: int = 10000, batch_size: int = 1000) -> FID:
    """FID of the samples against the first ``n_real`` test examples."""
    return FID(n_real=n_real, batch_size=batch_size)


def kid_metric(n_real: int = 10000, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
               batch_size: int = 1000) -> KID:
    """KID over ``subsets`` random subsets of ``subset_size`` (seeded by ``seed``)."""
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"kid: subsets must be >= 1 and subset_size >= 2, got {subsets}, "
                         f"{subset_size}")
    return KID(n_real=n_real, batch_size=batch_size, subsets=subsets, subset_size=subset_size,
               seed=seed)


def prdc_metric(n_real: int = 10000, k_pr: int = 3, k_dc: int = 5,
                batch_size: int = 1000) -> PRDC:
    """Precision / recall with ``k_pr`` nearest neighbours, density / coverage with ``k_dc``."""
    if k_pr < 1 or k_dc < 1:
        raise ValueError(f"prdc: k_pr and k_dc must be at least 1, got {k_pr}, {k_dc}")
    return PRDC(n_real=n_real, batch_size=batch_size, k_pr=k_pr, k_dc=k_dc)
