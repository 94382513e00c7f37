"""fastdyn.analysis: ranks, Kendall's tau-b, inverted fractions, learned counts, depth spread, eq. 14.

References: ``scipy.stats.rankdata`` / ``scipy.stats.kendalltau`` and O(n^2)
pair counts by brute force for the order statistics; ``fastdyn.critical_time``
(itself checked against mpmath in test_exact.py) and the analytic expansion
of eq. 12 for corollary 3.6.
"""

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastdyn as fd
from fastdyn import analysis as an
from fastdyn.kernels._order import merge_inversions, radix_argsort

TIES = ("average", "min", "max", "dense", "ordinal")

# times with many ties: a few distinct values (inf included)
_tied_values = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 1e300, np.inf])
_free_values = st.floats(0.0, 1e6, allow_nan=False)


def _times(min_size=0, max_size=60):
    return st.one_of(
        hnp.arrays(np.float64, st.integers(min_size, max_size), elements=_tied_values),
        hnp.arrays(np.float64, st.integers(min_size, max_size), elements=_free_values),
    )


@st.composite
def _pairs(draw, min_size=2, max_size=60):
    n = draw(st.integers(min_size, max_size))
    a = draw(hnp.arrays(np.float64, n, elements=st.one_of(_tied_values, _free_values)))
    b = draw(hnp.arrays(np.float64, n, elements=st.one_of(_tied_values, _free_values)))
    return a, b


def _brute_pairs(a, b):
    """Concordant, discordant, tied-in-a, tied-in-b, tied-in-both by enumerating all pairs."""
    c = d = ta = tb = tab = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            sa = np.sign(a[j] - a[i]) if a[j] != a[i] else 0
            sb = np.sign(b[j] - b[i]) if b[j] != b[i] else 0
            ta += sa == 0
            tb += sb == 0
            tab += sa == 0 and sb == 0
            if sa and sb:
                c += sa == sb
                d += sa != sb
    return c, d, ta, tb, tab


# ---------------------------------------------------------------------------
# ranks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ties", TIES)
@given(t=_times())
def test_rank_matches_scipy_rankdata(ties, t):
    r = an.rank(t, ties=ties)
    np.testing.assert_array_equal(r, scipy.stats.rankdata(t, method=ties))
    assert r.dtype == (np.float64 if ties == "average" else np.int64)


def test_rank_puts_infinite_times_last_and_tied():
    r = an.rank(np.array([np.inf, 1.0, np.inf, 0.0]))
    np.testing.assert_array_equal(r, [3.5, 2.0, 3.5, 1.0])


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_learning_order_is_the_rank_of_exact_critical_times(objective):
    rng = np.random.default_rng(3)
    lam, rho = rng.uniform(0.2, 3, 200), rng.uniform(0.3, 1.5, 200)
    t = fd.critical_time(lam, rho, depth=4, eps=1e-4, objective=objective, p=0.7)
    r = an.learning_order(lam, rho, depth=4, eps=1e-4, objective=objective, p=0.7)
    np.testing.assert_array_equal(r, scipy.stats.rankdata(t))


def test_learning_order_mae_by_lam_jepa_by_rho_at_equal_lam():
    # eq. 12/13: at equal lam MAE learns all features at nearly the same time, JEPA by rho
    rho = np.linspace(0.5, 1.0, 8)
    r = an.learning_order(1.0, rho, depth=5, eps=1e-4, objective="jepa")
    np.testing.assert_array_equal(r, np.arange(8, 0, -1))
    lam = np.linspace(0.5, 2.0, 8)
    r = an.learning_order(lam, 1.0, depth=5, eps=1e-4, objective="mae")
    np.testing.assert_array_equal(r, np.arange(8, 0, -1))


# ---------------------------------------------------------------------------
# Kendall's tau-b and inverted fraction
# ---------------------------------------------------------------------------


@given(ab=_pairs())
def test_compare_orders_counts_match_brute_force(ab):
    a, b = ab
    res = an.compare_orders(a, b)
    c, d, ta, tb, tab = _brute_pairs(a, b)
    assert (res.concordant, res.discordant, res.ties_a, res.ties_b, res.ties_both) == (
        c, d, ta, tb, tab)
    assert res.pairs == len(a) * (len(a) - 1) // 2
    if c + d:
        assert res.inverted_fraction == d / (c + d)
    else:
        assert np.isnan(res.inverted_fraction)


@given(ab=_pairs())
def test_compare_orders_tau_b_matches_scipy(ab):
    a, b = ab
    tau = an.compare_orders(a, b).tau
    ref = scipy.stats.kendalltau(a, b).statistic
    if np.isnan(ref):
        assert np.isnan(tau)
    else:
        assert tau == pytest.approx(ref, abs=1e-12)


@given(n=st.integers(2, 500), seed=st.integers(0, 2**32 - 1))
def test_without_ties_inverted_fraction_is_one_minus_tau_over_two(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.permutation(n).astype(float), rng.permutation(n).astype(float)
    res = an.compare_orders(a, b)
    assert res.inverted_fraction == pytest.approx((1 - res.tau) / 2, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_identical_and_reversed_orders(n):
    a = np.linspace(1.0, 2.0, n)
    same = an.compare_orders(a, 3 * a)
    rev = an.compare_orders(a, a[::-1].copy())
    assert (same.tau, same.inverted_fraction) == (1.0, 0.0)
    assert (rev.tau, rev.inverted_fraction) == (-1.0, 1.0)


@pytest.mark.parametrize("a,b", [([], []), ([1.0], [2.0]), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])])
def test_undefined_tau_is_nan(a, b):
    res = an.compare_orders(np.array(a), np.array(b))
    assert np.isnan(res.tau) and np.isnan(res.inverted_fraction)


@given(codes=hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(0, 40)))
def test_device_inversion_count_matches_merge_sort_and_brute_force(codes):
    # _bitwise_inversions is the CuPy algorithm; run here with NumPy as the array module
    brute = sum(int((codes[i] > codes[i + 1:]).sum()) for i in range(codes.size))
    tied = sum(int((codes[i] == codes[i + 1:]).sum()) for i in range(codes.size))
    assert merge_inversions(codes) == (brute, tied)
    assert an._bitwise_inversions(codes, np) == brute


@pytest.mark.parametrize("n", [2**k for k in range(1, 12)] + [2**k + 1 for k in range(1, 12)]
                         + [2**k - 1 for k in range(2, 12)])
@pytest.mark.parametrize("data", ["random", "runs"])
def test_merge_inversions_at_block_boundaries(n, data):
    # the merge takes a two-ended branch-free path for full blocks, a plain
    # merge for the last, shorter one and a copy for blocks already in order
    # (sorted runs): sizes at and around powers of two hit all three
    rng = np.random.default_rng(n)
    x = rng.integers(0, max(2, n // 3), n).astype(np.float64)
    if data == "runs":  # sorted stretches of random lengths, some reversed
        cuts = np.sort(rng.integers(0, n, 4))
        for k, part in enumerate(np.split(x, cuts)):
            part.sort()
            if k % 2:
                part[:] = part[::-1]
    inv = int(np.triu(x[:, None] > x[None, :], 1).sum())
    tied = int(np.triu(x[:, None] == x[None, :], 1).sum())
    assert merge_inversions(x) == (inv, tied)


_float_keys = st.one_of(_tied_values, _free_values, st.just(-0.0), st.just(5e-324),
                        st.floats(0.0, np.inf, allow_nan=False))


@given(t=hnp.arrays(np.float64, st.integers(0, 300), elements=_float_keys))
def test_radix_argsort_is_numpys_stable_argsort(t):
    order, keys = radix_argsort(t.view(np.uint64))
    np.testing.assert_array_equal(order, np.argsort(t, kind="stable"))
    # equal keys iff equal times (-0.0 == 0.0)
    s = t[order]
    np.testing.assert_array_equal(keys[1:] == keys[:-1], s[1:] == s[:-1])


def test_negative_zero_ties_with_zero():
    t = np.array([0.0, -0.0, 1.0, -0.0])
    np.testing.assert_array_equal(an.rank(t), scipy.stats.rankdata(t))
    res = an.compare_orders(t, np.array([1.0, 2.0, 3.0, 4.0]))
    c, d, ta, tb, tab = _brute_pairs(t, np.array([1.0, 2.0, 3.0, 4.0]))
    assert (res.concordant, res.discordant, res.ties_a, res.ties_b) == (c, d, ta, tb)
    assert res.ties_a == 3


@pytest.mark.parametrize("distinct_a,distinct_b", [(1, 1000), (7, 7), (3, 50_000), (50_000, 2)])
def test_compare_orders_with_heavy_ties_matches_scipy(distinct_a, distinct_b):
    # long runs of tied a are sorted by b inside the kernel; runs of tied b
    # are counted from the merge sort's result
    rng = np.random.default_rng(distinct_a + distinct_b)
    a = rng.integers(0, distinct_a, 100_000).astype(float)
    b = rng.integers(0, distinct_b, 100_000) + 0.5 * a
    res = an.compare_orders(a, b)
    ref = scipy.stats.kendalltau(a, b).statistic
    if np.isnan(ref):
        assert np.isnan(res.tau)
    else:
        assert res.tau == pytest.approx(ref, abs=1e-12)
    _, ca = np.unique(a, return_counts=True)
    _, cb = np.unique(b, return_counts=True)
    _, cab = np.unique(np.stack((a, b)), axis=1, return_counts=True)
    pairs = lambda c: int((c * (c - 1) // 2).sum())
    assert (res.ties_a, res.ties_b, res.ties_both) == (pairs(ca), pairs(cb), pairs(cab))


def test_compare_orders_and_rank_accept_strided_and_integer_input():
    a = np.arange(40.0)[::-2]
    b = np.arange(20)
    res = an.compare_orders(a, b)
    assert (res.tau, res.discordant) == (-1.0, 190)
    np.testing.assert_array_equal(an.rank(a), scipy.stats.rankdata(a))


def test_compare_orders_on_a_million_features_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.random(1_000_000)
    b = np.round(a + 0.3 * rng.random(a.size), 3)  # ties in b
    res = an.compare_orders(a, b)
    assert res.tau == pytest.approx(scipy.stats.kendalltau(a, b).statistic, abs=1e-12)


# ---------------------------------------------------------------------------
# learned counts and times
# ---------------------------------------------------------------------------


@given(t=_times(), q=hnp.arrays(np.float64, st.integers(0, 10), elements=st.one_of(
    _tied_values, _free_values)))
def test_learned_count_is_the_number_of_times_not_after_t(t, q):
    got = an.learned_count(t, q)
    np.testing.assert_array_equal(got, [(t <= x).sum() for x in q])
    assert got.dtype == np.int64 and got.shape == q.shape


@given(t=_times(min_size=1), f=st.floats(1e-9, 1.0))
def test_learning_time_is_the_first_time_with_the_fraction_learned(t, f):
    tf = an.learning_time(t, f)
    n = t.size
    assert an.learned_count(t, tf) >= f * n
    # minimality: fewer than f n features are learned strictly before tf
    assert (t < tf).sum() < f * n


@pytest.mark.parametrize("f,k", [(0.3, 3), (0.1, 1), (1.0, 10), (0.05, 1), (0.7, 7), (0.71, 8)])
def test_learning_time_exact_fractions(f, k):
    t = np.arange(10.0)[::-1].copy()
    assert an.learning_time(t, f) == k - 1.0


# ---------------------------------------------------------------------------
# depth spread and corollary 3.6
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_depth_spread_is_the_relative_range_of_critical_times(objective):
    rho = np.linspace(0.5, 1.0, 7)
    depths = np.array([2, 3, 5, 8])
    got = an.depth_spread(rho, depths=depths, lam=2.0, eps=1e-5, objective=objective, p=0.6)
    for k, L in enumerate(depths):
        t = fd.critical_time(2.0, rho, depth=int(L), eps=1e-5, objective=objective, p=0.6)
        assert got[k] == pytest.approx(t.max() / t.min() - 1, rel=1e-12)


def test_depth_spread_jepa_grows_with_depth_mae_stays_small():
    rho = np.linspace(0.5, 1.0, 6)
    depths = np.arange(2, 9)
    sj = an.depth_spread(rho, depths=depths, eps=1e-6, objective="jepa")
    sm = an.depth_spread(rho, depths=depths, eps=1e-6, objective="mae")
    assert np.all(np.diff(sj) > 0)
    assert np.all(sm < 1e-3) and np.all(sj[1:] > 100 * sm[1:])


def test_depth_spread_infinite_when_a_feature_starts_learned():
    # JEPA with rho^L < eps starts above its fixed point: t* = 0 next to positive times
    s = an.depth_spread(np.array([0.1, 1.0]), depths=[5], eps=1e-3, objective="jepa")
    assert s[0] == np.inf


@pytest.mark.parametrize("depth", [2, 3, 5, 8])
def test_corollary_ratio_converges_to_eq14_at_order_eps_2_over_L(depth):
    # the remainder of eq. 14 is Theta(eps^(2/L)): divided by eps^(2/L) it tends to a
    # constant, and the relative error of the correction term vanishes as eps^(1/L)
    # eps from 1e-(4 L) (within the domain: eps >= 1e-30) to 1e-(1.5 L)
    eps = np.logspace(max(-4 * depth, -30), -1.5 * depth, 6)
    res = an.corollary_ratio(0.6, 0.9, lam=1.3, depth=depth, eps=eps, objective="jepa")
    scaled = (res.exact - res.predicted) / eps ** (2.0 / depth)
    assert np.all(np.isfinite(scaled))
    assert abs(scaled[0] - scaled[1]) < 0.2 * abs(scaled[0])  # settled at the smallest eps
    rel = np.abs((res.exact - 1) / (res.predicted - 1) - 1)
    assert np.all(np.diff(rel) > 0)  # shrinks as eps -> 0
    assert rel[0] < 0.1


@given(rho=st.floats(1e-3, 1e3), rho_prime=st.floats(1e-3, 1e3), depth=st.integers(2, 64),
       log_eps=st.floats(-30, 3), p=st.floats(1e-6, 1 - 1e-6), lam=st.floats(1e-6, 1e6),
       objective=st.sampled_from(["jepa", "mae"]))
def test_corollary_ratio_is_finite_or_refused_over_the_domain(rho, rho_prime, depth, log_eps, p,
                                                              lam, objective):
    """Never NaN (0/0) or 0/inf: a finite positive ratio, or a ValueError naming the
    parameter whose critical time is 0 -- and then that time really is 0."""
    kw = dict(depth=depth, eps=10.0**log_eps, objective=objective, p=p)
    t1, t2 = (fd.critical_time(lam, r, **kw) for r in (rho, rho_prime))
    try:
        res = an.corollary_ratio(rho, rho_prime, lam=lam, **kw)
    except ValueError as exc:
        which = "rho" if t1 == 0 else "rho_prime"
        assert (t1 == 0 or t2 == 0), exc
        assert str(exc).startswith(f"`{which}` must give critical times t* > 0")
    else:
        assert t1 > 0 and t2 > 0
        assert 0 < res.exact < math.inf and np.isfinite(res.predicted)
        assert res.exact == t1 / t2


def test_corollary_ratio_eq12_expansion():
    # eq. 12 summed exactly gives the ratio to all orders in eps^(1/L) up to the
    # Theta(log eps) term; at eps = 1e-30 that term is negligible (relative 1e-48)
    L, eps, lam, r1, r2 = 4, 1e-30, 0.7, 0.5, 0.8

    def t12(rho):
        n = np.arange(1, 2 * L)
        return (L / n * rho ** (n - 2 * L + 1.0) * eps ** (-n / L)).sum() / lam

    res = an.corollary_ratio(r1, r2, lam=lam, depth=L, eps=eps)
    assert res.exact == pytest.approx(t12(r1) / t12(r2), rel=1e-12)


@pytest.mark.parametrize("depth", [2, 5, 7])
def test_corollary_ratio_mae_is_one_to_order_eps_L_minus_1_over_L(depth):
    eps = np.array([1e-6, 1e-9, 1e-12])
    res = an.corollary_ratio(0.5, 1.0, depth=depth, eps=eps, objective="mae")
    np.testing.assert_array_equal(res.predicted, 1.0)
    scaled = np.abs(res.exact - 1) / eps ** ((depth - 1) / depth)
    assert np.all(scaled < 5) and np.all(np.abs(res.exact - 1) < 1e-3)


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: an.rank(np.array([1.0, np.nan])), ValueError, r"`times` must be non-negative.*times\[1\] = nan"),
    (lambda: an.rank(np.array([1.0, 2.0, -1.0])), ValueError, r"times\[2\] = -1.0"),
    (lambda: an.rank(np.ones((2, 2))), ValueError, r"`times` must be a 1-D array"),
    (lambda: an.rank(np.ones(3), ties="first"), ValueError, r"`ties` must be 'average'"),
    (lambda: an.rank(np.ones(3) * 1j), TypeError, r"`times` must be real-valued"),
    (lambda: an.compare_orders(np.ones(3), np.ones(4)), ValueError, r"same length; got 3 and 4"),
    (lambda: an.compare_orders(np.ones(3), [0, -2.0, 1]), ValueError, r"times_b\[1\] = -2.0"),
    (lambda: an.learned_count(np.ones(3), [1.0, np.nan]), ValueError, r"t\[1\] = nan"),
    (lambda: an.learning_time(np.ones(3), [0.5, 0.0]), ValueError, r"`fraction` must be in the half-open interval \(0, 1\]; fraction\[1\] = 0.0"),
    (lambda: an.learning_time(np.ones(0), 0.5), ValueError, r"at least one feature"),
    (lambda: an.corollary_ratio(0.5, 1.0, depth=[3, 1], eps=1e-3), ValueError, r"at least 2 for eq. 14; depth\[1\] = 1"),
    (lambda: an.corollary_ratio(-0.5, 1.0, depth=3, eps=1e-3), ValueError, r"`rho` must be in \[0.001, 1000\]"),
    (lambda: an.depth_spread(np.ones((2, 2)), depths=[2], eps=1e-3, objective="jepa"), ValueError, r"`rho` must be a non-empty 1-D"),
    (lambda: an.depth_spread(np.ones(2), depths=[2, 65], eps=1e-3, objective="jepa"), ValueError, r"`depths` must be an integer in \[1, 64\]; depths\[1\] = 65"),
    (lambda: an.learning_order([1.0, 2.0], [0.5, 0.0], depth=3, eps=1e-3, objective="jepa"), ValueError, r"rho\[1\] = 0.0"),
])
def test_bad_input_names_parameter_value_and_index(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_numpy_input_never_imports_cupy():
    code = ("import sys, numpy as np; import fastdyn.analysis as a; "
            "t = np.arange(5.0); a.rank(t); a.compare_orders(t, t[::-1].copy()); "
            "a.learned_count(t, 2.0); a.learning_time(t, 0.5); "
            "a.depth_spread(np.array([0.5, 1.0]), depths=[2, 3], eps=1e-3, objective='jepa'); "
            "a.corollary_ratio(0.5, 1.0, depth=3, eps=1e-3); "
            "assert 'cupy' not in sys.modules, 'cupy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# GPU (CuPy): the same results on the device
# ---------------------------------------------------------------------------


def _cupy_or_skip():
    cp = pytest.importorskip("cupy")
    try:
        cp.zeros(1).sum().item()
    except Exception as exc:  # no device
        pytest.skip(f"no CUDA device: {exc}")
    return cp


@pytest.mark.gpu
def test_gpu_results_equal_cpu_results():
    cp = _cupy_or_skip()
    rng = np.random.default_rng(1)
    a = np.round(rng.random(100_000), 4)
    b = np.round(a + 0.2 * rng.random(a.size), 3)
    ra, rb = an.compare_orders(a, b), an.compare_orders(cp.asarray(a), cp.asarray(b))
    assert ra == rb
    for ties in TIES:
        np.testing.assert_array_equal(an.rank(cp.asarray(a), ties=ties).get(), an.rank(a, ties=ties))
    q = np.array([0.1, 0.5, 2.0])
    np.testing.assert_array_equal(an.learned_count(cp.asarray(a), cp.asarray(q)).get(),
                                  an.learned_count(a, q))
    np.testing.assert_array_equal(an.learning_time(cp.asarray(a), cp.asarray(q[:2])).get(),
                                  an.learning_time(a, q[:2]))
    lam, rho = rng.uniform(0.5, 2, 1000), rng.uniform(0.5, 1, 1000)
    r_gpu = an.learning_order(cp.asarray(lam), cp.asarray(rho), depth=5, eps=1e-4, objective="jepa")
    assert isinstance(r_gpu, cp.ndarray)
    np.testing.assert_array_equal(r_gpu.get(), an.learning_order(lam, rho, depth=5, eps=1e-4,
                                                                 objective="jepa"))
