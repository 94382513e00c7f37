"""Every constant fastdyn shares between its layers, defined once.

The kernels (Numba and CUDA), the dispatch layer, the validators, the sweeps
and the tests read these names; nothing else spells the numbers.  The CUDA
copies in ``kernels/cuda/config.h`` are checked against this module by
``tests/test_constants.py``.

The documented domain
---------------------
Inside it every public function returns finite, correct values (or a time of
``inf`` meaning "never reached"); outside it the boundary raises a
``ValueError`` naming the parameter, the value and the first bad index.

============  ==================================  ==========================
parameter     domain                              why this bound
============  ==================================  ==========================
``depth``     integers ``1 .. MAX_DEPTH``         inverse tables, CUDA limits
``lam``       ``[LAM_MIN, LAM_MAX]``              rates stay normal floats
``rho``       ``[RHO_MIN, RHO_MAX]``              ``rho**L`` stays in float64
``eps``       ``[EPS_MIN, EPS_MAX]``              the paper's small inits
``w``         ``[W_MIN, W_MAX]``                  every weight a trajectory
                                                  of the domain can take
``t``, ``dt`` ``[0, T_MAX]``                      plateaus up to ``1e300``
``p``         open ``(0, 1)``                     eq. 11
``ema_time``  ``[0, T_MAX]``                      jepa-ema target lag
``rtol``      ``[RTOL_MIN, RTOL_MAX]``            float64 resolution
``max_steps`` integers ``1 .. MAX_STEPS_LIMIT``   int64 step counters
============  ==================================  ==========================

The fixed points ``rho**L`` (JEPA) and ``rho**(L/(L+1))`` (MAE) of the
domain lie in ``[RHO_MIN**MAX_DEPTH, RHO_MAX**MAX_DEPTH] = [1e-192, 1e192]``,
and every trajectory moves monotonically from ``eps`` to its fixed point, so
every weight of the domain's trajectories lies in ``[W_MIN, W_MAX]`` (a margin
of eight decades beyond): ``advance`` and ``time_to_reach`` accept exactly
the weights a user's loop can hold.
"""

# --- objectives (kernel codes) --------------------------------------------
JEPA = 0
MAE = 1
JEPA_EMA = 2
#: public name -> kernel code, in the order error messages list them
OBJECTIVES = {"jepa": JEPA, "mae": MAE, "jepa-ema": JEPA_EMA}

# --- per-feature status codes (int8) --------------------------------------
SUCCESS = 0         #: the feature finished normally
MAX_STEPS = 1       #: the integrator hit its step budget before the last output time
NON_FINITE = 2      #: a non-finite value appeared in the state or its result
NO_CONVERGENCE = 3  #: a safeguarded root find did not meet its tolerance
OUT_OF_DOMAIN = 4   #: a sweep's sampled parameters lie outside the documented domain (not computed)
DIVERGED = 5        #: gradient descent: a layer value left [-DIVERGENCE_NORM, DIVERGENCE_NORM]
OSCILLATED = 6      #: gradient descent: w reversed direction beyond rounding (the values are valid)

# --- branch codes: where the weight starts relative to its fixed point ----
GROWTH = 1      #: psi < 1: the weight rises to the fixed point
DECAY = -1      #: psi > 1: the weight decays to the fixed point
AT_FIXED = 0    #: psi == 1 exactly: the weight never moves

# --- the documented domain -------------------------------------------------
MAX_DEPTH = 64
LAM_MIN, LAM_MAX = 1e-6, 1e6
RHO_MIN, RHO_MAX = 1e-3, 1e3
EPS_MIN, EPS_MAX = 1e-30, 1e3
W_MIN, W_MAX = 1e-200, 1e200
T_MAX = 1e300
#: closed bounds accept values within this relative rounding (8 ulps): ``np.logspace(-30, 3)``
#: starts at 9.999999999999999e-31, and a user who asks for the documented corner gets it
DOMAIN_SLACK = 8 * 2.0**-53
RTOL_MIN, RTOL_MAX = 1e-14, 1e-2

# --- integer options ---------------------------------------------------------
DEFAULT_MAX_STEPS = 100_000
MAX_STEPS_LIMIT = 2**62

# --- gradient descent (fastdyn.train and fastdyn.gd) -------------------------------
#: a weight beyond this (or a non-finite one) stops a diverging seed / feature
DIVERGENCE_NORM = 1e12
#: default step budget of ``gd_critical_step`` per feature
DEFAULT_GD_STEPS = 10_000_000

# --- scheduling ----------------------------------------------------------------
#: below this much work a serial loop beats waking the thread pool.  Work is counted in
#: exact trajectory points (about 90 ns each serially); kernels whose unit costs more say so
#: (``Kernel.cost`` in fastdyn/_dispatch.py).  Measured with TBB on 2 cores: the pool's
#: wake-up costs about 6 us, and the parallel twin wins from about 100 points, 50 advances.
PARALLEL_MIN_WORK = 256

# --- checks of user-given matrices (models, train) ---------------------------
#: relative tolerance of the structural checks on matrices a user passes
#: (symmetry of Sxx, orthonormal bases, constant diagonals, positive
#: semi-definiteness): far above the float64 rounding of O(d) sums, far below
#: any deviation that would change a closed form or a gradient visibly
STRUCT_RTOL = 1e-10
