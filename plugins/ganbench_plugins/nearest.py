"""Exact nearest-neighbour distances in pixel space, for the ``memorisation`` metric
(:mod:`ganbench_plugins.metrics`): ``NearestIndex``, a pruned search with a float32 lower
bound, and ``nearest_distances``."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganbench_plugins.metrics_features import (
    block_minima,
    gemm_dtype,
    padded,
    pairs_below,
    row_argmin,
    rows_per_chunk,
)

__all__ = ["NearestIndex", "nearest_distances"]


def _nearest_direct(x: Tensor, y: Tensor, exclude: Tensor | None = None) -> Tensor:
    """``nearest_distances`` by brute force: chunked cdist, from differences (not from the
    GEMM |a|^2 + |b|^2 - 2 a.b, whose rounding makes an exact copy in low dimensions look
    as far from its original as nearest neighbours are: ring-2d's copies were missed)."""
    rows = rows_per_chunk(len(y), 1 << 26)  # 256 MB of float32 per chunk
    mode = "donot_use_mm_for_euclid_dist" if x.shape[1] <= 32 else None
    out = []
    for i in range(0, len(x), rows):
        d = torch.cdist(x[i:i + rows], y, compute_mode=mode or "use_mm_for_euclid_dist_if_necessary")
        if exclude is not None:
            d[torch.arange(len(d), device=d.device), exclude[i:i + rows]] = math.inf
        out.append(d.min(dim=1).values)
    return torch.cat(out) if out else x.new_zeros(0)


class NearestIndex:
    """Exact nearest-neighbour distances to the rows of ``y`` (float32), found with a lower
    bound that costs an eighth of the full search on MNIST. (Rank 96 rather than 128: 20-30%
    faster on MNIST's test digits and on copies, the same on noisy digits; one thread.)

    Every point ``z`` (centred on ``y``'s mean) is split into its coordinates ``p`` on the top
    ``rank`` principal axes of ``y`` (of up to 5,000 evenly spaced rows; any orthonormal basis
    keeps the bound valid, these make it tight) and the length ``r`` of the rest. Then
    ``|a - b|^2 >= |p_a - p_b|^2 + (r_a - r_b)^2``, one float32 GEMM over ``rank + 2``
    columns for a chunk of queries against all of ``y``. A query's upper bound is its exact
    distance to the row of smallest bound; only the rows whose bound is below it (with a
    margin of 1e-3 of the squared norms, far above float32's rounding) are measured, directly
    as ``|a - b|``; both the row of smallest bound and the rows below the limit are found from
    the bounds' minima over blocks of 64 columns (``block_minima``), the one pass over all
    pairs besides the GEMM (when pairs fall in more than half the blocks, the chunk's bounds
    are compared whole instead). The answer is the brute-force one (to float32 rounding). A
    chunk where the bound prunes badly (unstructured data: more than 5% of the pairs below the
    limit) is searched by brute force (``cdist``: GEMM rounding in more than 32 dims)."""

    def __init__(self, y: Tensor, rank: int = 96):
        self.y = y.reshape(len(y), -1).float()
        dims = self.y.shape[1]
        self.rank = min(rank, dims // 4)
        self.brute = self.rank < 8 or len(self.y) < 64
        if self.brute:
            return
        y, self.dtype = self.y, gemm_dtype()  # float32 unless its GEMMs may round more
        self.mu = y.to(self.dtype).mean(0)
        pick = torch.linspace(0, len(y) - 1, min(len(y), 5000), device=y.device).long()
        sub = y[pick].double() - self.mu.double()
        self.basis = torch.linalg.eigh(sub.T @ sub).eigenvectors[:, -self.rank:].to(self.dtype)
        e, sq = self._embed(y)
        self.ey = torch.cat([-2 * e, sq[:, None]], 1).T.contiguous()  # (rank + 2, N)
        self.slack = 1e-3 * float(sq.max()) + 1e-6

    def state(self) -> dict:
        """What ``from_state`` needs besides ``y``, as tensors and plain values (the disk
        cache of :mod:`ganbench_plugins.kept`)."""
        if self.brute:
            return {"rank": self.rank, "brute": True, "n": len(self.y)}
        return {"rank": self.rank, "brute": False, "n": len(self.y), "mu": self.mu,
                "dtype": str(self.dtype).removeprefix("torch."), "basis": self.basis,
                "ey": self.ey, "slack": self.slack}

    @classmethod
    def from_state(cls, y: Tensor, state: dict) -> NearestIndex:
        """The index of ``y`` from its ``state()``; a ValueError if it is not ``y``'s shape."""
        index = cls.__new__(cls)
        index.y = y.reshape(len(y), -1).float()
        index.rank, index.brute = int(state["rank"]), bool(state["brute"])
        if state["n"] != len(y):
            raise ValueError("the state is of another number of rows")
        if not index.brute:
            index.dtype = getattr(torch, state["dtype"])
            index.mu, index.basis, index.ey = state["mu"], state["basis"], state["ey"]
            index.slack = float(state["slack"])
            if tuple(index.ey.shape) != (index.rank + 2, len(y)) or \
                    tuple(index.basis.shape) != (index.y.shape[1], index.rank):
                raise ValueError("the state is of another shape")
        return index

    def _embed(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(N, rank + 1) ``[p, r]`` and (N,) squared norms of ``z - mean``."""
        parts, norms = [], []
        for s in range(0, len(z), 10000):
            zc = z[s:s + 10000].to(self.dtype) - self.mu
            p = zc @ self.basis
            r = torch.addmm(zc, p, self.basis.T, alpha=-1.0).norm(dim=1)
            parts.append(torch.cat([p, r[:, None]], 1))
            norms.append((zc * zc).sum(1))
        return torch.cat(parts), torch.cat(norms)

    def _blocked_ey(self) -> Tensor:
        """``ey`` padded to whole blocks (``BLOCK``) with columns whose bound is +inf."""
        ey = getattr(self, "_ey_blocked", None)
        if ey is None:
            n = self.ey.shape[1]
            ey = self.ey.new_zeros(self.ey.shape[0], padded(n))
            ey[:, :n] = self.ey
            ey[-1, n:] = math.inf
            self._ey_blocked = ey
        return ey

    def search(self, x: Tensor, exclude: Tensor | None = None) -> Tensor:
        """Each row of ``x``'s distance to its nearest row of ``y``, not counting row
        ``exclude[i]`` of ``y`` for ``x[i]``."""
        x, y = x.reshape(len(x), -1).float(), self.y
        if self.brute or len(x) == 0:
            return _nearest_direct(x, y, exclude)
        # chunks of 32 MB of bounds (in the L3 cache), written into one buffer: no page faults
        ey = self._blocked_ey()
        rows = rows_per_chunk(ey.shape[1], 1 << 23)
        buf = torch.empty(min(rows, len(x)), ey.shape[1], dtype=self.dtype, device=x.device)
        out = []
        for i in range(0, len(x), rows):
            a = x[i:i + rows]
            ea, asq = self._embed(a)
            bound = torch.mm(torch.cat([ea, torch.ones_like(asq)[:, None]], 1), ey,
                             out=buf[:len(a)])  # lb^2 - |a-mu|^2
            if exclude is not None:
                bound[torch.arange(len(a), device=a.device), exclude[i:i + rows]] = math.inf
            minima = block_minima(bound)  # the one pass over the bounds
            best = ((a - y[row_argmin(bound, minima)]) ** 2).sum(1)
            limit = best - asq + 1e-3 * asq + self.slack
            limit, most = limit.to(bound.dtype), 0.05 * len(a) * len(y)
            if int((minima < limit[:, None]).count_nonzero()) > 0.5 * minima.numel():
                below = bound < limit[:, None]  # pairs in most blocks: compare the whole chunk
                pairs = below.nonzero(as_tuple=True) if int(below.count_nonzero()) <= most \
                    else None
            else:
                pairs = pairs_below(bound, minima, limit, most=most)
            if pairs is None:  # the bound does not prune (over 5% of the pairs): brute force
                out.append(_nearest_direct(a, y, None if exclude is None
                                           else exclude[i:i + rows]))
                continue
            qi, j = pairs
            step = 1 << 14
            for s in range(0, len(qi), step):
                q, t = qi[s:s + step], j[s:s + step]
                best.scatter_reduce_(0, q, ((a[q] - y[t]) ** 2).sum(1), reduce="amin")
            out.append(best.sqrt())
        return torch.cat(out)


def nearest_distances(x: Tensor, y: Tensor, exclude: Tensor | None = None) -> Tensor:
    """Each row of ``x``'s distance to its nearest row of ``y`` (exact, ``NearestIndex``);
    ``exclude[i]`` is an index of ``y`` not to match with ``x[i]`` (itself, when ``x`` is drawn
    from ``y``)."""
    return NearestIndex(y).search(x, exclude)
