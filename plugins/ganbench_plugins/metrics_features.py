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


# ---- block minima: the searches' one fast pass over a distance chunk ---------------------
# On the CPU a comparison that writes a bool per element costs 2 ns and an argmin 3.8 ns, but
# a minimum over blocks of 64 columns costs 0.6 ns (one thread). So the distance searches take
# the minimum of each block first and look inside a block only when its minimum says it can
# hold an answer: the same pairs, in the same order, from a pass over 1/64 of the elements.

BLOCK = 64  # columns per block
DENSE = 0.5  # PRDC compares a chunk whole when more than this fraction of its blocks may hold pairs


def padded(columns: int, block: int = BLOCK) -> int:
    """``columns`` rounded up to a whole number of blocks."""
    return -(-columns // block) * block


def block_minima(m: Tensor, block: int = BLOCK) -> Tensor:
    """``(rows, cols / block)``: the minimum of each block of ``block`` columns of ``m``
    (whose columns are a whole number of blocks)."""
    return m.view(len(m), -1, block).amin(2)


def row_argmin(m: Tensor, minima: Tensor, block: int = BLOCK) -> Tensor:
    """``m.argmin(1)`` (the first minimum of each row) from ``m``'s ``block_minima``."""
    first = minima.argmin(1)
    rows = torch.arange(len(m), device=m.device)
    return first * block + m.view(len(m), -1, block)[rows, first].argmin(1)


def pairs_below(m: Tensor, minima: Tensor, limit: Tensor, most: float = math.inf,
                most_blocks: float = math.inf, block: int = BLOCK
                ) -> tuple[Tensor, Tensor] | None:
    """``(m < limit[:, None]).nonzero(as_tuple=True)`` (row-major order) from ``m``'s
    ``block_minima``, reading only the blocks whose minimum is below their row's limit; None
    when more than ``most`` pairs, or more than ``most_blocks`` blocks, hold values below."""
    r, b = (minima < limit[:, None]).nonzero(as_tuple=True)
    if len(r) > min(most, most_blocks):  # each such block holds at least one pair
        return None
    h, c = (m.view(len(m), -1, block)[r, b] < limit[r, None]).nonzero(as_tuple=True)
    return None if len(h) > most else (r[h], b[h] * block + c)


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


def mmd2_unbiased(x: Tensor, y: Tensor, x_self: Tensor | None = None) -> Tensor:
    """The unbiased estimate of MMD^2 with the polynomial kernel (Binkowski et al. 2018);
    ``x_self``: ``_self_kernel_sum(x)``, when known."""
    m, n = len(x), len(y)
    x_self = _self_kernel_sum(x) if x_self is None else x_self
    return (x_self / (m * (m - 1)) + _self_kernel_sum(y) / (n * (n - 1))
            - 2 * _kernel_sum(x, y) / (m * n))


def kid_subsets(n_real: int, n_fake: int, n_subsets: int = 100, subset_size: int = 1000,
                seed: int = 0) -> tuple[list[tuple[Tensor, Tensor]], int]:
    """KID's subsets: ``n_subsets`` pairs of index tensors (real, fake) of ``subset_size``
    each, drawn without replacement from a seeded generator, real then fake; the size
    shrinks to the smaller set, and one subset is used when it then covers both sets (every
    subset would be the same). Returns (the pairs, the subset size)."""
    m = min(subset_size, n_real, n_fake)
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 examples, got {m}")
    if m == n_real == n_fake:
        n_subsets = 1
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randperm(n_real, generator=gen)[:m], torch.randperm(n_fake, generator=gen)[:m])
            for _ in range(n_subsets)], m


def real_self_sums(real: Tensor, subsets: list[tuple[Tensor, Tensor]]) -> Tensor:
    """``_self_kernel_sum`` of each subset of the real examples (float64, ``(n_subsets,)``):
    a third of KID's work that depends on the dataset alone (kept by ``KID``)."""
    real = real.to(gemm_dtype())
    return torch.stack([_self_kernel_sum(real[i.to(real.device)]) for i, _ in subsets])


def kid(real: Tensor, fake: Tensor, n_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0, real_sums: Tensor | None = None) -> tuple[float, float, int, int]:
    """Mean and std (ddof 0, as torch-fidelity) of the unbiased MMD^2 over the subsets of
    ``kid_subsets``. Returns (mean, std, subsets, subset size). Inner products are float32
    GEMMs (``gemm_dtype``; twice float64's speed), the rest float64: on MNIST's features
    mean and std are all-float64's to 1.2e-7 relative. ``real_sums``: ``real_self_sums`` of
    these subsets, when known."""
    subsets, m = kid_subsets(len(real), len(fake), n_subsets, subset_size, seed)
    if real_sums is None:
        real_sums = real_self_sums(real, subsets)
    real, fake = real.to(gemm_dtype()), fake.to(gemm_dtype())
    values = [mmd2_unbiased(real[i.to(real.device)], fake[j.to(fake.device)], x_self)
              for (i, j), x_self in zip(subsets, real_sums)]
    t = torch.stack(values)
    return float(t.mean()), float(t.std(correction=0)), len(subsets), m


class KID(FeatureMetric):
    """Kernel Inception Distance in the dataset's feature space. Keys ``kid`` (the mean over
    subsets; lower is better) and ``std``."""

    name = "kid"
    higher_is_better = {"kid": False}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        real, fake = self.features(samples, dataset)
        o = self.options
        draws = (len(real), len(fake), o["subsets"], o["subset_size"], o["seed"])
        sums = kept("kid-real-sums", (fingerprint(real), *draws, str(real.device),
                                      str(gemm_dtype())),
                    lambda: real_self_sums(real, kid_subsets(*draws)[0]), disk=TENSOR)
        mean, std, subsets, size = kid(real, fake, *draws[2:], real_sums=sums)
        self._used.update(subsets_used=subsets, subset_size_used=size)
        return {"kid": mean, "std": std}


# ---- precision, recall, density, coverage ------------------------------------------------

ROUNDING = 1e-4  # float32 GEMM distances are trusted to this fraction of |a|^2 + |b|^2


def gemm_dtype() -> torch.dtype:
    """float32, unless float32 matrix products may be computed in less (TF32, bfloat16: see
    ``torch.set_float32_matmul_precision``), when the error bounds below would not hold."""
    return torch.float32 if float32_exact() else torch.float64


def _augmented(x: Tensor, sq: Tensor, left: bool, columns: int | None = None) -> Tensor:
    """Rows ``[a, |a|^2, 1]`` (left) or ``[-2 b, 1, |b|^2]`` (right), float32 (``gemm_dtype``):
    their products are the squared distances ``|a|^2 + |b|^2 - 2 a.b`` in one GEMM. Right
    rows up to ``columns`` (whole blocks) are padded with ``[0, 0, inf]``: distance +inf."""
    one = torch.ones_like(sq)[:, None]
    if left:
        return torch.cat([x, sq[:, None], one], 1).to(gemm_dtype())
    rows = torch.cat([-2 * x, one, sq[:, None]], 1).to(gemm_dtype())
    if columns is not None and columns > len(rows):
        pad = rows.new_zeros(columns - len(rows), rows.shape[1])
        pad[:, -1] = math.inf
        rows = torch.cat([rows, pad])
    return rows


def _any(mask: Tensor, dim: int) -> Tensor:
    """``mask.any(dim)`` as the max of its bytes (ten times faster on the CPU)."""
    return mask.view(torch.uint8).amax(dim).bool()


def _exact_sq(a: Tensor, b: Tensor) -> Tensor:
    """Squared distances of the pairs ``a[i], b[i]`` (float64 rows), directly."""
    return ((a - b) ** 2).sum(-1)


def _exact_pairs(a: Tensor, b: Tensor, q: Tensor, j: Tensor, step: int = 1 << 13) -> Tensor:
    """``_exact_sq(a[q], b[j])``, gathered ``step`` pairs at a time (a few MB, not GBs)."""
    return torch.cat([_exact_sq(a[q[s:s + step]], b[j[s:s + step]])
                      for s in range(0, len(q), step)]) if len(q) else a.new_zeros(0)


def _inside(d2: Tensor, t: Tensor, err: float, a: Tensor, b: Tensor,
            pairs: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """``exact distance < t`` for float32 GEMM squared distances ``d2`` and float64 thresholds
    ``t`` (broadcast together): decided by ``d2`` where it is further than ``err`` from ``t``,
    else by the float64 distance. ``d2`` is ``(len(a), len(b))`` of the rows of ``a`` and
    ``b``, or, given ``pairs``, 1-d: ``d2[p]`` is ``a[pairs[0][p]]``'s to ``b[pairs[1][p]]``."""
    t32 = t.to(d2.dtype)
    inside = d2 < t32 - err
    unsure = (d2 < t32 + err) ^ inside
    if pairs is not None:
        at = unsure.nonzero()[:, 0]
        if len(at):
            inside[at] = _exact_pairs(a, b, pairs[0][at], pairs[1][at]) < t.expand_as(d2)[at]
        return inside
    close = _any(unsure, 1).nonzero()[:, 0]  # the rows with a close call
    if len(close):
        r, j = unsure[close].nonzero(as_tuple=True)
        q = close[r]
        inside[q, j] = _exact_pairs(a, b, q, j) < t.expand_as(d2)[q, j]
    return inside


def knn_sq_radii(x: Tensor, ks: list[int], chunk_elements: int = CHUNK_ELEMENTS
                 ) -> dict[int, Tensor]:
    """For each k, every point's squared distance (float64) to its k-th nearest neighbour in
    ``x`` other than itself (the (k+1)-th smallest counting its own 0, as the prdc package).
    Candidates come from float32 GEMM distances (the ``top + 8`` nearest, found inside the
    ``top + 8`` blocks of smallest minimum: they hold those values), then are measured exactly
    in float64; a row whose candidates might miss a neighbour (the last one within float32's
    error of the k-th: duplicates, collapsed samples) is measured again at every point that
    float32 puts within twice that error of the k-th exact distance found."""
    top = max(ks) + 1
    if len(x) < top:
        raise ValueError(f"k-NN radii with k={max(ks)} need more than {max(ks)} points, "
                         f"got {len(x)}")
    x = x.double()
    sq = (x * x).sum(1)
    right = _augmented(x, sq, left=False, columns=padded(len(x))).T.contiguous()
    err_b = ROUNDING * float(sq.max())
    n_cand = min(len(x), top + 8)
    n_blocks = right.shape[1] // BLOCK
    rows = rows_per_chunk(right.shape[1], chunk_elements)  # one buffer for all chunks
    buf = right.new_empty(min(rows, len(x)), right.shape[1])
    parts = []
    for i in range(0, len(x), rows):
        a = x[i:i + rows]
        d2 = torch.mm(_augmented(a, sq[i:i + rows], left=True), right, out=buf[:len(a)])
        # the n_cand smallest lie in the n_cand blocks of smallest minimum
        blocks = block_minima(d2).topk(min(n_cand, n_blocks), dim=1, largest=False).indices
        cols = (blocks[:, :, None] * BLOCK + torch.arange(BLOCK, device=x.device)).flatten(1)
        approx, at = d2.gather(1, cols).topk(n_cand, dim=1, largest=False)
        cand = cols.gather(1, at)
        exact = _exact_sq(a[:, None, :], x[cand]).sort(dim=1).values[:, :top]
        if n_cand < len(x):  # any row not in the candidates is at least this far
            margin = ROUNDING * sq[i:i + rows] + err_b  # |float32 d2 - exact| is below it
            floor = approx[:, -1].double() - margin
            redo = (floor <= exact[:, -1]).nonzero()[:, 0]
            if len(redo):  # measure every point that can be nearer than the k-th found
                limit = (exact[redo, -1] + 2 * margin[redo]).to(d2.dtype)
                q, j = (d2[redo, :len(x)] <= limit[:, None]).nonzero(as_tuple=True)
                e = _exact_pairs(a, x, redo[q], j)
                by = e.sort(stable=True).indices  # rows' pairs nearest first, row by row
                by = by[q[by].sort(stable=True).indices]
                q, e = q[by], e[by]
                start = torch.searchsorted(q, torch.arange(len(redo), device=q.device))
                rank = torch.arange(len(q), device=q.device) - start[q]
                count = torch.bincount(q, minlength=len(redo))
                full = count >= top  # every row, unless float32 broke its error bound
                exact[redo[full]] = e[(rank < top) & full[q]].view(-1, top)
                for r in redo[~full].tolist():  # then: against every point
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
    the counts are those of float64 arithmetic. ``real_radii``: real's ``knn_sq_radii``.

    The pairs that can be inside a ball are few: for each chunk of real rows, the pass over
    its distances is ``block_minima`` (samples ordered by radius, so that a block's radii are
    alike); only the blocks whose minimum is below a row's radii, or below the largest radius
    of the block's samples (each plus float32's error bound), are compared element by element. A chunk where more than half
    the blocks could hold such pairs is compared whole."""
    real, fake = real.double(), fake.double()
    real_r = real_radii or knn_sq_radii(real, sorted({k_pr, k_dc}), chunk_elements)
    fake_r = knn_sq_radii(fake, [k_pr], chunk_elements)[k_pr]  # squared radii
    order = fake_r.argsort()  # blocks of samples of similar radius
    fake, fake_r = fake[order], fake_r[order]
    n, width = len(fake), padded(len(fake))
    in_pr = torch.zeros(width, dtype=torch.bool, device=fake.device)
    in_dc, recalled, covered = 0, [], []  # in_dc: (sample, real ball) pairs, all that density needs
    fake_sq, real_sq = (fake * fake).sum(1), (real * real).sum(1)
    right = _augmented(fake, fake_sq, left=False, columns=width).T.contiguous()
    dtype = right.dtype
    col_r = torch.cat([fake_r, fake_r.new_zeros(width - n)])  # padding: distance inf, never inside
    block_r = torch.cat([fake_r, fake_r.new_full((width - n,), -math.inf)]).to(dtype) \
        .view(-1, BLOCK).amax(1)  # the largest radius of each block's samples
    err_f = ROUNDING * float(fake_sq.max())
    rows = rows_per_chunk(width, chunk_elements)
    buf = right.new_empty(min(rows, len(real)), width)  # one for all chunks
    for i in range(0, len(real), rows):
        a = real[i:i + rows]
        d2 = torch.mm(_augmented(a, real_sq[i:i + rows], left=True), right, out=buf[:len(a)])
        err = ROUNDING * float(real_sq[i:i + rows].max()) + err_f
        t_pr, t_dc = real_r[k_pr][i:i + rows], real_r[k_dc][i:i + rows]
        minima = block_minima(d2)
        half = DENSE * minima.numel()

        # balls of the real rows: precision (k_pr), density and coverage (k_dc)
        limit = torch.maximum(t_pr.to(dtype), t_dc.to(dtype)) + err
        pairs = pairs_below(d2, minima, limit, most_blocks=half)
        if pairs is None:  # dense: every pair
            pr, dc = (_inside(d2, t[:, None], err, a, fake) for t in (t_pr, t_dc))
            in_pr |= _any(pr, 0)
            in_dc += int(torch.count_nonzero(dc))
            covered.append(_any(dc, 1))
        else:
            q, j = pairs
            pr, dc = (_inside(d2[q, j], t[q], err, a, fake, pairs) for t in (t_pr, t_dc))
            in_pr[j[pr]] = True
            in_dc += int(torch.count_nonzero(dc))
            cov = torch.zeros(len(a), dtype=torch.bool, device=a.device)
            cov[q[dc]] = True
            covered.append(cov)

        # balls of the samples: recall (k_pr)
        r, b = (minima < (block_r + err)[None, :]).nonzero(as_tuple=True)
        if len(r) > half:  # dense: every pair
            recalled.append(_any(_inside(d2, col_r[None, :], err, a, fake), 1))
        else:
            cols = b[:, None] * BLOCK + torch.arange(BLOCK, device=a.device)
            vals = d2.view(len(a), -1, BLOCK)[r, b]
            h, c = (vals < col_r.to(dtype)[cols] + err).nonzero(as_tuple=True)
            q, j = r[h], cols[h, c]
            rc = _inside(vals[h, c], col_r[j], err, a, fake, (q, j))
            rec = torch.zeros(len(a), dtype=torch.bool, device=a.device)
            rec[q[rc]] = True
            recalled.append(rec)
    return {"precision": float(in_pr[:n].double().mean()),
            "recall": float(torch.cat(recalled).double().mean()),
            "density": in_dc / (k_dc * n),
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
