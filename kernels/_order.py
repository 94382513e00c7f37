"""Order statistics of critical times: radix argsort, ranks, inversion counts (CPU kernels).

The kernels behind :mod:`fastdyn.analysis` on NumPy input (the CuPy path
there uses array operations).  Each is a serial ``@njit`` loop over the
features, compiled once and cached.  Inputs are not validated here (the
analysis API does that): non-negative float64 times without NaN.

Sorting.  Non-negative float64 values (``inf`` included) order like their
IEEE-754 bit patterns read as unsigned integers, so an LSD radix sort of the
bit patterns sorts them exactly, in O(n) per pass and without data-dependent
branches (a comparison sort of random times mispredicts about every other
branch).  The sign bit is cleared first: it is set only for -0.0, which must
tie with +0.0.  The sort is stable (ties keep the input order), as the
``"ordinal"`` ranks and scipy's ``rankdata`` require.
"""

import numpy as np

from ._jit import njit

__all__ = ["lexsorted_b", "merge_inversions", "radix_argsort", "ranks_from_sorted", "TIE_METHODS"]

#: tie methods of :func:`ranks_from_sorted`, by code (the order of ``method``)
TIE_METHODS = ("average", "min", "max", "dense", "ordinal")

_RADIX_BITS = 11  # 2048 buckets: histograms in L1, six passes cover 64 bits
_RADIX_PASSES = 6

@njit(cache=True, nogil=True)
def radix_argsort(bits):  # pragma: no cover - compiled
    """Stable argsort of non-negative float64 values given as their uint64 bit patterns.

    Parameters
    ----------
    bits : ndarray of uint64, shape (n,)
        ``times.view(np.uint64)`` of non-negative (or -0.0) float64 times.

    Returns
    -------
    order : ndarray of int64, shape (n,)
        ``times[order]`` is sorted; equal times in input order.
    keys : ndarray of uint64, shape (n,)
        The sorted bit patterns (sign bit cleared): equal keys iff equal times.
    """
    n = bits.shape[0]
    nb = 1 << _RADIX_BITS
    digit = np.uint64(nb - 1)
    sign_off = np.uint64(0x7FFFFFFFFFFFFFFF)
    # one read of the input fills the histograms of every pass
    hist = np.zeros((_RADIX_PASSES, nb), np.int64)
    keys = np.empty(n, np.uint64)
    for i in range(n):
        k = bits[i] & sign_off
        keys[i] = k
        for p in range(_RADIX_PASSES):
            hist[p, (k >> np.uint64(_RADIX_BITS * p)) & digit] += 1
    order = np.arange(n)
    keys2 = np.empty(n, np.uint64)
    order2 = np.empty(n, np.int64)
    offset = np.empty(nb, np.int64)
    for p in range(_RADIX_PASSES):
        # a digit shared by every key (the high exponent bits of times within a
        # few decades) leaves the order unchanged: skip the pass
        constant = False
        for d in range(nb):
            if hist[p, d] != 0:
                constant = hist[p, d] == n
                break
        if constant:
            continue
        total = 0
        for d in range(nb):
            offset[d] = total
            total += hist[p, d]
        shift = np.uint64(_RADIX_BITS * p)
        for i in range(n):
            k = keys[i]
            d = (k >> shift) & digit
            pos = offset[d]
            offset[d] = pos + 1
            keys2[pos] = k
            order2[pos] = order[i]
        keys, keys2 = keys2, keys
        order, order2 = order2, order
    return order, keys


@njit(cache=True, nogil=True)
def ranks_from_sorted(order, keys, method):  # pragma: no cover - compiled
    """Ranks from a stable sort, in one pass over the runs of equal keys.

    ``method``: 0 average (float64), 1 min, 2 max, 3 dense, 4 ordinal (int64,
    returned as float64 exactly: every rank is below 2**53).
    """
    n = order.shape[0]
    r = np.empty(n, np.float64)
    start = 0
    run = 0
    while start < n:
        end = start + 1
        while end < n and keys[end] == keys[start]:
            end += 1
        run += 1
        if method == 0:
            val = (start + end + 1) / 2.0  # mean of start+1 .. end
        elif method == 1:
            val = start + 1.0
        elif method == 2:
            val = float(end)
        else:
            val = float(run)
        for k in range(start, end):
            r[order[k]] = val if method != 4 else k + 1.0
        start = end
    return r


@njit(cache=True, nogil=True)
def merge_inversions(x):  # pragma: no cover - compiled
    """Strict inversions ``#{i < j : x[i] > x[j]}`` and tied pairs ``#{i < j : x[i] == x[j]}``.

    Bottom-up merge sort, ``O(n log n)``; equal values are never counted as
    inversions (a stable merge keeps them in order).  The tied pairs are read
    off the runs of the sorted result.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Integer or float values without NaN.

    Returns
    -------
    inversions, tied_pairs : int
    """
    n = x.shape[0]
    a = x.copy()
    b = np.empty_like(a)
    count = 0
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            if width >= 16 and (mid == hi or a[mid - 1] <= a[mid]):
                # halves already in order (sorted or tied data): no inversions,
                # copy.  Not tried on short blocks, where random data would
                # mispredict this branch about half the time.
                b[lo:hi] = a[lo:hi]
            elif hi - mid == width:
                # Two halves of equal length w: merge from both ends at once,
                # w outputs each, without branches on the data.  A comparison
                # merge of random values mispredicts about every other branch,
                # and a branch-free one is bound by the latency of its
                # index -> load -> compare chain; two independent chains halve
                # that.  With equal halves neither end can run out of a half
                # before its last step, so no bounds checks are needed.
                # Inversions (left l > right r) are counted once each: from the
                # front when l is placed (the rights already placed are all
                # smaller: on ties the front takes the left), from the back when
                # r is placed (the lefts already placed from the back are all
                # larger: on ties the back takes the right), and, for l placed
                # from the back and r from the front, by the product below.
                i = lo
                j = mid
                k = lo
                ib = mid - 1
                jb = hi - 1
                kb = hi - 1
                for _ in range(width):
                    xl = a[i]
                    xr = a[j]
                    t = xr < xl  # front takes the right value
                    b[k] = xr if t else xl
                    count += (j - mid) * (1 - t)
                    j += t
                    i += 1 - t
                    k += 1
                    yl = a[ib]
                    yr = a[jb]
                    u = yl > yr  # back takes the left value
                    b[kb] = yl if u else yr
                    count += (mid - 1 - ib) * (1 - u)
                    ib -= u
                    jb -= 1 - u
                    kb -= 1
                count += (mid - 1 - ib) * (j - mid)
            else:
                # the last, shorter block of a level: plain merge
                i = lo
                j = mid
                k = lo
                while i < mid and j < hi:
                    if a[j] < a[i]:
                        b[k] = a[j]
                        count += mid - i  # a[j] is smaller than every remaining left value
                        j += 1
                    else:
                        b[k] = a[i]
                        i += 1
                    k += 1
                while i < mid:
                    b[k] = a[i]
                    i += 1
                    k += 1
                while j < hi:
                    b[k] = a[j]
                    j += 1
                    k += 1
        a, b = b, a
        width *= 2
    tied = 0
    run = 1
    for k in range(1, n):
        if a[k] == a[k - 1]:
            run += 1
        else:
            tied += run * (run - 1) // 2
            run = 1
    if n:
        tied += run * (run - 1) // 2
    return count, tied


@njit(cache=True, nogil=True)
def lexsorted_b(order, keys, b):  # pragma: no cover - compiled
    """``b`` in lexicographic ``(a, b)`` order, with the tied pairs in ``a`` and in both.

    Parameters
    ----------
    order, keys : ndarray, shape (n,)
        A sort of ``a`` and its sorted keys (:func:`radix_argsort`).
    b : ndarray of float64, shape (n,)

    Returns
    -------
    b_sorted : ndarray of float64, shape (n,)
        ``b[order]`` with each run of equal ``a`` sorted by ``b``: every pair
        tied in ``a`` is then in ``b`` order and never an inversion, and the
        pairs tied in both are runs.
    tied_a, tied_both : int
    """
    n = order.shape[0]
    bs = np.empty(n, np.float64)
    for k in range(n):
        bs[k] = b[order[k]]
    tied_a = 0
    tied_both = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and keys[end] == keys[start]:
            end += 1
        m = end - start
        if m > 1:
            tied_a += m * (m - 1) // 2
            bs[start:end] = np.sort(bs[start:end])
            run = 1
            for k in range(start + 1, end):
                if bs[k] == bs[k - 1]:
                    run += 1
                else:
                    tied_both += run * (run - 1) // 2
                    run = 1
            tied_both += run * (run - 1) // 2
        start = end
    return bs, tied_a, tied_both
