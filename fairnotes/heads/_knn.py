"""Cosine k-nearest-neighbour head: a low-precision candidate search, then an exact re-rank.

The neighbours and the vote are those of ``sklearn.neighbors.KNeighborsClassifier(n_neighbors=k,
algorithm="brute", metric="cosine")`` (uniform weights), ties included; see :func:`knn_head`.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._common import check_train, threads_for

__all__ = ["knn_head", "bf16_supported"]

_CHUNK_BYTES = 64 << 20     # scores of one test block, at most
_MAX_BLOCK = 256            # test samples per search block (the score buffer of a worker)
_TILE = 4096                # training columns per search product: its scores stay in L2 for the group maxima
_GROUP = 64                 # columns per group for the group-maximum pre-selection
_MAX_CANDIDATES = 4096      # a test sample with more candidates takes scikit-learn's steps
_RERANK_ROWS = 32           # test samples per exact re-rank product
_BIG_GEMM = 1 << 22         # M·N·K of every exact product at least this: OpenBLAS's small-matrix kernels
#                             (up to 100³ on x86-64), whose sums differ in the last bit, stay out of it
_NEAR = 2                   # ulps (of 1) by which two BLAS kernels' sums of one dot product may
#                             differ (1 seen in float64, 0 in float32): the near zone of _rerank
_PRECISIONS = ("auto", "bf16", "fp32")
_U_BF16 = 2.0 ** -8         # unit roundoff of bfloat16 (8 significant bits)
_U_FP32 = 2.0 ** -24
_U_FP64 = 2.0 ** -53
_SLACK = 2.0 ** -16         # absolute: flushed subnormals, the float64 evaluation of the bound


@functools.lru_cache(maxsize=None)
def bf16_supported() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX-BF16).

    Without it oneDNN emulates bfloat16, slower than float32, so ``precision="auto"`` then
    searches in float32."""
    import torch
    try:
        caps = torch._C._cpu._get_cpu_capability()  # a dict of CPU features (torch >= 2.3)
        if isinstance(caps, dict):
            return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    except (AttributeError, RuntimeError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return " avx512_bf16" in flags or " amx_bf16" in flags
    except OSError:
        return False


def knn_head(train_feats: Any, train_labels: Any, test_feats: Any, *, k: int = 10,
             num_classes: int | None = None, chunk_size: int | None = None,
             return_votes: bool = False, precision: str = "auto") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Majority vote of the ``k`` training samples nearest in cosine distance.

    Gives the predictions of ``sklearn.neighbors.KNeighborsClassifier(n_neighbors=k,
    algorithm="brute", metric="cosine")`` (uniform weights), ties included, by repeating its
    arithmetic where it decides anything:

    * **Distances** as scikit-learn's ``cosine_distances``: rows scaled by
      ``sqrt(einsum("ij,ij->i"))`` (norms below 10 epsilons left at 1), ``S = x @ y.T`` by numpy
      (the same BLAS, every product kept above OpenBLAS's small-matrix size as scikit-learn's
      are), ``S *= -1; S += 1; clip(S, 0, 2)``; in float32 when both feature arrays are float32,
      else in float64.
    * **Neighbours**: the ``k`` smallest distances. Where the ``k``-th place is contested, scikit-
      learn keeps whichever samples ``np.argpartition`` (introselect) leaves in front: no rule
      such as "the lowest index wins" describes it; and a BLAS may sum one dot product in another
      order for another shape or thread split (by an ulp in float64 on AVX-512 OpenBLAS), which
      can order or tie near-equal distances otherwise. So a test row whose distances within
      ``2·_NEAR`` ulps of the ``k``-th are more than the places left and of different labels
      (every tie across labels included) is answered by scikit-learn's own steps: its chunk of
      test rows multiplied whole, in its shape, so that every sum comes out the same to the
      bit, and ``np.argpartition(row, k - 1)[:k]``. Near ties within one label cannot change
      the vote. scikit-learn's last chunk, when small (test × train × features up to 2**22, so
      a whole small problem) or a single row (a matrix-vector product), is repeated likewise.
    * **Vote**: the most frequent label among the ``k``; between equally frequent labels the
      smallest wins, as with ``scipy.stats.mode``, which scikit-learn uses.

    **Search.** The exact distances are computed only for *candidates*, found by multiplying
    each test block with the training set in ``precision`` (scores ``ŝ``): all training samples
    with ``ŝ >= θ``, where, for a test row,

    ``θ = L - u_o|L|``,  ``L = m - c|m| - 2B - δ``,  ``c = u_o / (1 - u_o)``,

    ``m`` is the ``k``-th largest maximum of ``ŝ`` over groups of 64 columns, ``u_o`` the output
    rounding (``2**-8`` for bfloat16 scores, 0 for float32), ``δ`` the width over which
    ``fl(1 - s)`` and the clip merge similarities plus the near zone above, ``B`` a bound on
    ``|x - s|``, ``x`` the product before its output rounding and ``s`` the exact similarity
    (summed in any order). *No neighbour is lost*: with ``a, b`` the unit rows used for the
    exact distances and ``â, b̂`` their rounded copies, ``|â·b̂ - a·b| <= ||â||·||b̂ - b|| +
    ||â - a||·||b||`` (Cauchy–Schwarz; ``||â - a||`` is measured, about ``2**-9`` for
    bfloat16), and a sum of ``F`` products in float32 (the search) or in the exact dtype adds
    at most ``γ_F·||·||·||·||``, ``γ_F = F·u / (1 - F·u)``: so ``|x - s| <= B``. The ``k``
    samples behind the top ``k`` group maxima have ``ŝ >= m``, so ``x >= m - c|m|``, ``s >= m -
    c|m| - B``, and the ``k``-th largest ``s`` is at least that. A sample as near as the
    ``k``-th (ties included, or within the near zone) has ``s`` at most ``δ`` below it, so ``x
    >= L`` and, rounding being monotone, ``ŝ >= θ``. A row with more than 4096 candidates is
    answered by scikit-learn's steps too.

    Memory: search blocks of at most 256 test rows (scores of at most 64 MiB, one block per
    thread), a copy of the training set in ``precision``; a row left to scikit-learn's steps
    costs one chunk of its size (its ``working_memory``, 1 GiB of distances by default).

    Parameters
    ----------
    train_feats, train_labels, test_feats
        ``N×F`` features, ``N`` integer labels ``0..K-1``, ``M×F`` features (numpy).
    k
        Number of neighbours, ``1..N`` (scikit-learn refuses ``k > N`` too).
    num_classes
        ``K``; default ``max(train_labels) + 1``.
    chunk_size
        Test samples per search block; default from the 64 MiB budget, at most 256.
    return_votes
        Also return the ``M×K`` int64 vote counts.
    precision
        ``"auto"`` (bfloat16 search where the CPU has it natively, see :func:`bf16_supported`,
        else float32), ``"bf16"`` or ``"fp32"``. The predictions are the same with each.

    Returns
    -------
    np.ndarray
        ``M`` int64 predicted labels (and the votes, with ``return_votes``).

    Examples
    --------
    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_head(train, [0, 0, 1], np.array([[1.0, 0.2], [0.1, 1.0]]), k=1).tolist()
    [0, 1]
    """
    import torch
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {_PRECISIONS}; got {precision!r}")
    raw_tr, raw_te = np.asarray(train_feats), np.asarray(test_feats)
    xtr, y, xte, n_classes = check_train(train_feats, train_labels, test_feats, num_classes)
    n, f = xtr.shape
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n} (the training samples); got {k!r}")
    k = int(k)
    if precision == "auto":
        precision = "bf16" if bf16_supported() else "fp32"
    # scikit-learn's check_pairwise_arrays: float32 only when both sides are float32
    exact = np.float32 if raw_tr.dtype == raw_te.dtype == np.float32 else np.float64
    a_tr = _sk_normalize(np.asarray(raw_tr, dtype=exact))
    a_te = _sk_normalize(np.asarray(raw_te, dtype=exact))
    votes = np.zeros((len(xte), n_classes), dtype=np.int64)
    if k == n:  # every training sample is a neighbour
        votes += np.bincount(y, minlength=n_classes)
    elif len(xte):
        m = len(xte)
        sk_rows = _sk_chunk_rows(n)
        replica = []
        # scikit-learn's last chunk of test rows, when small (or one row: a matrix-vector
        # product), is summed by other BLAS kernels: repeat it as it is
        tail = (m - 1) // sk_rows * sk_rows
        if m - tail == 1 or (m - tail) * n * f <= _BIG_GEMM:
            replica.append(np.arange(tail, m))
        else:
            tail = m
        if tail:
            with torch.inference_mode(), threads_for(xtr.size):
                rows, cols, full = _Search(a_tr, k, precision, chunk_size).run(a_te[:tail])
            with _one_blas_thread():  # small products: a thread barrier each would cost more
                replica += [full, _rerank(a_te, a_tr, y, k, rows, cols, votes)]
        _replica(a_te, np.unique(np.concatenate(replica)), a_tr, y, k, votes, sk_rows)
    pred = votes.argmax(1)  # the first maximum: the smallest of the tied labels, as scipy.stats.mode
    return (pred, votes) if return_votes else pred


class _Search:
    """The low-precision search: training tiles in ``precision``, their error norms, the loop."""

    def __init__(self, a_tr: np.ndarray, k: int, precision: str, chunk_size: int | None):
        import torch
        n, f = a_tr.shape
        self.n, self.f, self.k = n, f, k
        exact = torch.from_numpy(a_tr)
        self.sdtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.idtype = torch.int16 if precision == "bf16" else torch.int32  # same width: ordered like
        self.u_out = _U_BF16 if precision == "bf16" else 0.0                # the floats when >= 0
        self.u_exact = _U_FP32 if a_tr.dtype == np.float32 else _U_FP64
        self.g = _GROUP if n >= 4 * _GROUP * k else 1                       # else plain elements
        self.n_tiles = -(-n // _TILE)
        self.nb = -(-(-(-n // self.n_tiles)) // self.g) * self.g            # tile width, groups whole
        self.gpt = self.nb // self.g                                        # groups per tile
        self.n_groups = self.gpt * self.n_tiles
        self.pad = self.nb * self.n_tiles - n
        low = exact.to(self.sdtype)
        self.w = torch.empty(self.n_tiles, f, self.nb, dtype=self.sdtype)  # tiles × F × nb: plain GEMMs
        for j in range(self.n_tiles):
            part = low[j * self.nb:(j + 1) * self.nb]
            self.w[j, :, :len(part)] = part.T
            self.w[j, :, len(part):] = 0
        # error norms, measured: b̂ - b is exact in the exact dtype (Sterbenz), the sums of
        # squares carry at most γ_(F+2) of relative error
        low_e = low.to(exact.dtype).numpy()
        grow = 1 + 2 * _gamma(f + 2, self.u_exact)
        self.err_tr = _max_norm(low_e - a_tr) * grow                        # max ||b̂ - b||
        self.norm_tr_low = _max_norm(low_e) * grow                          # max ||b̂||
        self.norm_tr = _max_norm(a_tr) * grow                               # max ||b||
        item = 2 if precision == "bf16" else 4
        self.block = chunk_size or max(1, min(_MAX_BLOCK, _CHUNK_BYTES // (item * self.nb * self.n_tiles)))

    def run(self, a_te: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pairs ``(rows, cols)``, sorted by row, and the rows with too many candidates.

        The blocks are shared among ``torch.get_num_threads()`` Python threads, each running
        torch on one thread: no OpenMP barrier per product, which on a busy machine costs more
        than the small products themselves."""
        import torch
        blocks = [(s, min(s + self.block, len(a_te))) for s in range(0, len(a_te), self.block)]
        workers = min(torch.get_num_threads(), len(blocks))
        before = torch.get_num_threads()

        def work(block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            torch.set_num_threads(1)
            with torch.inference_mode():
                return self._block(a_te, *block)
        try:
            if workers > 1:
                with ThreadPoolExecutor(workers) as pool:
                    out = list(pool.map(work, blocks))
            else:
                out = [work(b) for b in blocks]
        finally:
            torch.set_num_threads(before)
        rows, cols, full = (np.concatenate([o[i] for o in out]) for i in range(3))
        return rows, cols, full

    def _block(self, a_te: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch
        k, g, gpt = self.k, self.g, self.gpt
        q_exact = torch.from_numpy(a_te[start:stop])
        q_low = q_exact.to(self.sdtype)
        b = stop - start
        scores = torch.empty(self.n_tiles, b, self.nb, dtype=self.sdtype)  # ŝ, tile by tile
        gbits = torch.empty(b, self.n_groups, dtype=self.idtype)
        for j in range(self.n_tiles):
            tile = scores[j]
            torch.mm(q_low, self.w[j], out=tile)
            if j == self.n_tiles - 1 and self.pad:
                tile[:, self.nb - self.pad:] = float("-inf")
            bits = tile.view(self.idtype)
            gbits[:, j * gpt:(j + 1) * gpt] = bits.view(b, gpt, g).amax(2) if g > 1 else bits
        # the integer maximum is the float maximum for a group holding a value >= +0; a group of
        # negatives only gets -inf, a lower bound, which is all m needs; rows where θ <= 0 then
        # take the float maxima
        gmax = gbits.view(self.sdtype).float().masked_fill_(gbits < 0, float("-inf"))
        theta = self._threshold(q_low, q_exact, torch.topk(gmax, k, dim=1).values[:, -1].double())
        neg = torch.nonzero(~(theta > 0)).flatten()                          # NaN (from m = -inf) too
        if len(neg):
            exact_max = scores[:, neg].float().view(self.n_tiles, len(neg), gpt, g).amax(3)
            gmax[neg] = exact_max.permute(1, 0, 2).reshape(len(neg), self.n_groups)
            m = torch.topk(gmax[neg], k, dim=1).values[:, -1].double()
            theta[neg] = self._threshold(q_low[neg], q_exact[neg], m)
        r, grp = (gmax >= theta[:, None]).nonzero(as_tuple=True)
        vals = scores.view(self.n_tiles, b, gpt, g)[grp // gpt, r, grp % gpt]   # P×G
        p, off = (vals >= theta[r, None]).nonzero(as_tuple=True)
        row, col = r[p], grp[p] * g + off                                    # sorted by row
        counts = torch.bincount(row, minlength=b)
        full = counts > _MAX_CANDIDATES
        keep = ~full[row]
        return ((row[keep] + start).numpy(), col[keep].numpy(),
                (torch.nonzero(full).flatten() + start).numpy())

    def _threshold(self, q_low: Any, q_exact: Any, m: Any) -> Any:
        """θ of :func:`knn_head`'s docstring per test row, as float32 no larger than its value."""
        ql, qe = q_low.double(), q_exact.double()
        n_ql, n_qe = ql.norm(dim=1), qe.norm(dim=1)
        err_q = (ql - qe).norm(dim=1)
        gam_s, gam_e = _gamma(self.f, _U_FP32), _gamma(self.f, self.u_exact)
        bound = (n_ql * self.err_tr + err_q * self.norm_tr
                 + gam_s * n_ql * self.norm_tr_low + gam_e * n_qe * self.norm_tr) * (1 + 2.0 ** -20)
        top = n_qe * self.norm_tr * (1 + gam_e)                               # largest possible s
        near = 4 * _NEAR * 2 * self.u_exact                                    # the near zone of _rerank
        delta = 2.0 ** -20 + near + (top - 1).clamp(min=0)                     # fl(1 - s) merges, the clip
        c = self.u_out / (1 - self.u_out)
        low = m - c * m.abs() - 2 * bound - delta - _SLACK
        theta = low - self.u_out * low.abs()
        theta = theta - theta.abs() * 2.0 ** -22 - 2.0 ** -60                  # the float32 cast cannot round up
        return theta.float()


def _one_blas_thread() -> Any:
    """numpy's BLAS on one thread (threadpoolctl, which scikit-learn depends on), if available."""
    import contextlib
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _max_norm(x: np.ndarray) -> float:
    """Largest row L2 norm (einsum: a fast sum of squares)."""
    return float(np.sqrt(np.einsum("ij,ij->i", x, x).max())) if len(x) else 0.0


def _gamma(n: int, u: float) -> float:
    """γ_n = n·u / (1 - n·u): relative error bound of a sum of n products in precision u."""
    return n * u / (1 - n * u)


def _sk_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm with scikit-learn's arithmetic (``normalize``: ``row_norms`` by
    einsum, ``_handle_zeros_in_scale`` leaving norms below 10 epsilons at 1)."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    norms[norms < 10 * np.finfo(x.dtype).eps] = 1.0
    return x / norms[:, None]


def _sk_distances(q: np.ndarray, a_tr: np.ndarray) -> np.ndarray:
    """``cosine_distances`` of rows already normalised: ``S = q @ y.T; S *= -1; S += 1; clip``."""
    s = q @ a_tr.T
    s *= -1
    s += 1
    return np.clip(s, 0.0, 2.0)


def _rerank(a_te: np.ndarray, a_tr: np.ndarray, y: np.ndarray, k: int, rows: np.ndarray,
            cols: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Exact distances of the candidate pairs (``rows`` sorted), ``_RERANK_ROWS`` test rows per
    product against the union of their candidates; votes for the rows whose ``k`` nearest are
    settled. Returns the rows left to :func:`_replica`."""
    if not len(rows):
        return rows
    f = a_tr.shape[1]
    uniq, starts, counts = np.unique(rows, return_index=True, return_counts=True)
    d = np.empty(len(rows), dtype=a_tr.dtype)
    for i in range(0, len(uniq), _RERANK_ROWS):
        rr = uniq[i:i + _RERANK_ROWS]
        lo = starts[i]
        hi = starts[i + _RERANK_ROWS] if i + _RERANK_ROWS < len(uniq) else len(rows)
        u, inv = np.unique(cols[lo:hi], return_inverse=True)
        q_rows = rr if len(rr) > 1 else np.repeat(rr, 2)
        need = -(-_BIG_GEMM // (len(q_rows) * f)) + 1
        if len(u) < need:
            u = np.concatenate([u, np.resize(u, need - len(u))])
        dist = _sk_distances(a_te[q_rows], a_tr[u])
        d[lo:hi] = dist[np.searchsorted(rr, rows[lo:hi]), inv]
    # per row, by distance (stable): the first k are the neighbours
    order = np.lexsort((d, rows))
    d, c = d[order], cols[order]
    row_of = np.repeat(np.arange(len(uniq)), counts)                     # rows is sorted: same segments
    rank = np.arange(len(d)) - starts[row_of]
    first = rank < k
    lab = y[c]
    _add_votes(votes, uniq, lab[first].reshape(len(uniq), k))
    # the near zone: distances within 2·_NEAR ulps of the k-th. If it holds more samples than
    # places left, of different labels, scikit-learn's sums (another kernel, other threads) may
    # order or tie them otherwise, and np.argpartition decides: the row goes to _replica
    near = 2 * _NEAR * np.finfo(d.dtype).eps
    dk = d[starts + k - 1][row_of]
    zone = np.abs(d - dk) <= near
    places = k - np.bincount(row_of, weights=d < dk - near, minlength=len(uniq))
    crowded = np.bincount(row_of, weights=zone, minlength=len(uniq)) > places
    lo_lab = np.minimum.reduceat(np.where(zone, lab, np.iinfo(np.int64).max), starts)
    hi_lab = np.maximum.reduceat(np.where(zone, lab, -1), starts)
    return uniq[crowded & (lo_lab != hi_lab)]


def _replica(a_te: np.ndarray, rows: np.ndarray, a_tr: np.ndarray, y: np.ndarray, k: int,
             votes: np.ndarray, sk_rows: int) -> None:
    """scikit-learn's own steps for ``rows`` of the test set: each of its chunks (``sk_rows``
    test rows, ``pairwise_distances_chunked``) that holds one of them is multiplied whole, in
    that shape, so that OpenBLAS splits it among its threads and kernels as for scikit-learn
    and every sum comes out the same to the bit; then ``np.argpartition`` as
    ``KNeighborsMixin._kneighbors_reduce_func``, and the label counts. Takes as much memory as
    a chunk of scikit-learn's (its ``working_memory``, 1 GiB by default)."""
    if not len(rows):
        return
    for c0 in np.unique(rows // sk_rows) * sk_rows:
        sel = rows[(rows >= c0) & (rows < c0 + sk_rows)]
        dist = _sk_distances(a_te[c0:c0 + sk_rows], a_tr)[sel - c0]
        _add_votes(votes, sel, y[np.argpartition(dist, k - 1, axis=1)[:, :k]])


def _sk_chunk_rows(n: int) -> int:
    """Test rows per chunk of scikit-learn's ``pairwise_distances_chunked`` (``get_chunk_n_rows``
    with 8 bytes a distance and its ``working_memory``, 1024 MiB unless configured)."""
    import sys
    working_memory = 1024
    if "sklearn" in sys.modules:
        working_memory = sys.modules["sklearn"].get_config()["working_memory"]
    return max(1, int(working_memory * 2 ** 20 // (8 * n)))


def _add_votes(votes: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> None:
    """``votes[rows]`` = the label counts of each row of ``labels`` (rows × k)."""
    n_classes = votes.shape[1]
    flat = (np.arange(len(rows))[:, None] * n_classes + labels).ravel()
    votes[rows] = np.bincount(flat, minlength=len(rows) * n_classes).reshape(len(rows), n_classes)
