"""fastdyn's CPU library: the per-feature math of ``kernels/cuda/*.h``, callable from Numba.

The C++ headers of ``kernels/cuda/`` are the only definition of the
per-feature math.  ``setup.py`` compiles them (``kernels/cuda/host_library.cpp``)
into the shared library ``_libfastdyn*.so`` beside this module when the
package is built; the GPU compiles the same headers with NVRTC.  This module
loads the library once per process and exposes each exported function twice:

* as a Numba external function (``numba.types.ExternalFunction`` after
  ``llvmlite.binding.load_library_permanently``), for the ``prange`` kernels
  and the public scalar functions of :mod:`fastdyn.kernels`: the compiled
  code calls the C symbol directly, so ``cache=True`` keeps working (the
  cached machine code refers to the symbol by name);
* through :mod:`ctypes` (:data:`lib`), for Python-level helpers (the inverse
  tables) and the tests.

Both come from the one list of signatures :data:`SIGNATURES`
(``tests/test_host_library.py`` checks it against the C source).  The
intrinsics :func:`data_ptr`, :func:`ptr_at`, :func:`slot` and
:func:`load` turn NumPy arrays and local
variables into the pointers the C functions take, inside compiled code.

The library carries the hash of the sources it was built from; importing
fastdyn with a library built from other sources (an editable install whose
headers were edited since) raises ``ImportError`` naming the rebuild command.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from pathlib import Path
from types import ModuleType

import llvmlite.binding as _llvm
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._constants import MAX_DEPTH
from ._source_hash import source_hash

HERE = Path(__file__).resolve().parent
NAME = "_libfastdyn"
REBUILD = 'python3 -m pip install -e ".[test]"  (or: python3 -m pip install .)'

# Types of the C ABI (host_library.cpp): name -> (numba type, ctypes type)
_TYPES = {
    "i8": (types.int8, ctypes.c_int8),
    "i64": (types.int64, ctypes.c_int64),
    "f32": (types.float32, ctypes.c_float),
    "f64": (types.float64, ctypes.c_double),
    "p_i8": (types.CPointer(types.int8), ctypes.POINTER(ctypes.c_int8)),
    "p_i64": (types.CPointer(types.int64), ctypes.POINTER(ctypes.c_int64)),
    "p_f32": (types.CPointer(types.float32), ctypes.POINTER(ctypes.c_float)),
    "p_f64": (types.CPointer(types.float64), ctypes.POINTER(ctypes.c_double)),
    "str": (None, ctypes.c_char_p),
    "void": (types.void, None),
}

#: every exported function: C name (without the ``fdh_`` prefix) -> (result, arguments)
SIGNATURES = {
    "source_hash": ("str", ()),
    "max_depth": ("i64", ()),
    "inverse_knots": ("i64", ()),
    # objective, depth, w, lam, rho
    "rhs": ("f64", ("i64", "i64", "f64", "f64", "f64")),
    # objective, depth, rho
    "fixed_point": ("f64", ("i64", "i64", "f64")),
    # objective, depth, lam, rho, w0, w1
    "time_between": ("f64", ("i64", "i64", "f64", "f64", "f64", "f64")),
    # objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma, *status
    "advance": ("f64", ("i64", "i64", "f64", "f64", "f64", "f64", "p_f64", "p_f64", "p_i8")),
    # nt, t, objective, depth, lam, rho, eps, out, stride, tab_sigma, tab_dsigma
    "trajectory_row": ("i8", ("i64", "p_f64", "i64", "i64", "f64", "f64", "f64", "p_f64", "i64",
                              "p_f64", "p_f64")),
    # objective, depth, lam, rho, eps, p, f_star
    "critical_time": ("f64", ("i64", "i64", "f64", "f64", "f64", "f64", "f64")),
    # objective, depth, lam, rho, eps
    "critical_time_asymptotic": ("f64", ("i64", "i64", "f64", "f64", "f64")),
    # objective, depth, p
    "critical_level": ("f64", ("i64", "i64", "f64")),
    # objective, depth, sigma growth, dsigma growth, sigma decay, dsigma decay
    "inverse_row": ("void", ("i64", "i64", "p_f64", "p_f64", "p_f64", "p_f64")),
    # nt, t, objective, depth, lam, rho, eps, rtol, max_steps, out, stride, *nsteps
    "ode_trajectory_row": ("i8", ("i64", "p_f64", "i64", "i64", "f64", "f64", "f64", "f64", "i64",
                                  "p_f64", "i64", "p_i64")),
    "ode_trajectory_row_f32": ("i8", ("i64", "p_f32", "i64", "i64", "f32", "f32", "f32", "f32",
                                      "i64", "p_f32", "i64", "p_i64")),
    # objective, depth, lam, rho, eps, p, rtol, max_steps, *status, *nsteps
    "ode_crossing": ("f64", ("i64", "i64", "f64", "f64", "f64", "f64", "f64", "i64", "p_i8",
                             "p_i64")),
    "ode_crossing_f32": ("f32", ("i64", "i64", "f32", "f32", "f32", "f32", "f32", "i64", "p_i8",
                                 "p_i64")),
    # nt, t, depth, lam, rho, eps, ema_time, rtol, max_steps, w, w_tgt, stride, *nsteps
    "ema_trajectory_row": ("i8", ("i64", "p_f64", "i64", "f64", "f64", "f64", "f64", "f64", "i64",
                                  "p_f64", "p_f64", "i64", "p_i64")),
    # test pieces: the tableau, one integrator step, its dense output
    "tableau": ("void", ("p_f64",) * 6),
    "phase_rhs": ("f64", ("i64", "f64", "f64", "f64", "f64", "f64", "f64", "i64")),
    "dp_step": ("void", ("i64", "f64", "f64", "f64", "f64", "f64", "f64", "f64", "i64", "p_f64")),
    "dense_eval": ("f64", ("f64", "f64", "p_f64", "f64")),
    # objective, depth, lam, rho, lr, momentum, a (depth), *v, b (depth), nrec, rec, w_out, stride
    "gd_row": ("i8", ("i64", "i64", "f64", "f64", "f64", "f64", "p_f64", "p_f64", "p_f64", "i64",
                      "p_i64", "p_f64", "i64")),
    # objective, depth, lam*, rho*, lr*, momentum* (LANES each), a, v, b, row_stride, nrec, rec,
    # w_out, w_row, w_time, status* (LANES)
    "gd_rows_lanes": ("void", ("i64", "i64", "p_f64", "p_f64", "p_f64", "p_f64", "p_f64", "p_f64",
                               "p_f64", "i64", "i64", "p_i64", "p_f64", "i64", "i64", "p_i8")),
    "gd_lanes": ("i64", ()),
    # objective, depth, lam*, rho*, lr*, momentum*, a, v, b, row_stride, p*, max_steps, k*, status*
    "gd_crossing_lanes": ("void", ("i64", "i64", "p_f64", "p_f64", "p_f64", "p_f64", "p_f64", "p_f64",
                                   "p_f64", "i64", "p_f64", "i64", "p_f64", "p_i8")),
    # objective, depth, lam, rho, lr, momentum, a, *v, b, p, max_steps, *k
    "gd_crossing": ("i8", ("i64", "i64", "f64", "f64", "f64", "f64", "p_f64", "p_f64", "p_f64", "f64",
                           "i64", "p_f64")),
    # objective, depth, rho, a (depth), v
    "gd_flow_limit": ("f64", ("i64", "i64", "f64", "p_f64", "f64")),
    # objective, depth, lam, rho, a (depth), v, nt, t, rtol, max_steps, w_out, stride, *nsteps
    "flow_trajectory_row": ("i8", ("i64", "i64", "f64", "f64", "p_f64", "f64", "i64", "p_f64", "f64",
                                   "i64", "p_f64", "i64", "p_i64")),
    # objective, depth, lam, rho, momentum
    "gd_stable_lr": ("f64", ("i64", "i64", "f64", "f64", "f64")),
    # depth, lam, rho, a (depth), v, b (depth), ema_time, nt, t, rtol, max_steps, w_out, stride,
    # *nsteps
    "flow_ema_trajectory_row": ("i8", ("i64", "f64", "f64", "p_f64", "f64", "p_f64", "f64", "i64",
                                       "p_f64", "f64", "i64", "p_f64", "i64", "p_i64")),
    # a0, b0, dt, depth, log_k, beta, out (2)
    "ema_linear_tail": ("void", ("f64", "f64", "f64", "f64", "f64", "f64", "p_f64")),
    # nt, t, objective, depth*, lam*, rho*, eps*, first, n, out, row stride, time stride, status*,
    # tab_sigma, tab_dsigma
    "trajectory_block": ("void", ("i64", "p_f64", "i64", "p_i64", "p_f64", "p_f64", "p_f64", "i64", "i64",
                                  "p_f64", "i64", "i64", "p_i8", "p_f64", "p_f64")),
    # objective, depth*, lam*, rho*, w*, dt*, first, n, out*, status*, tab_sigma, tab_dsigma
    "advance_block": ("void", ("i64", "p_i64", "p_f64", "p_f64", "p_f64", "p_f64", "i64", "i64", "p_f64",
                               "p_i8", "p_f64", "p_f64")),
    # objective, depth*, lam*, rho*, eps*, p*, levels*, first, n, out*
    "critical_block": ("void", ("i64", "p_i64", "p_f64", "p_f64", "p_f64", "p_f64", "p_f64", "i64", "i64",
                                "p_f64")),
    # objective, depth*, lam*, rho*, w*, first, n, state, row stride, tab_sigma, tab_dsigma
    "state_init_block": ("void", ("i64", "p_i64", "p_f64", "p_f64", "p_f64", "i64", "i64", "p_f64", "i64",
                                  "p_f64", "p_f64")),
    # objective, depth*, lam*, rho*, state, row stride, dt*, first, n, out*, status*, tab_sigma, tab_dsigma
    "state_advance_block": ("void", ("i64", "p_i64", "p_f64", "p_f64", "p_f64", "i64", "p_f64", "i64", "i64",
                                     "p_f64", "p_i8", "p_f64", "p_f64")),
    "state_rows": ("i64", ()),
    "simd_lanes": ("i64", ()),
    # which (0 exp, 1 expm1, 2 log, 3 log1p), n, x, out
    "vm_eval": ("void", ("i64", "i64", "p_f64", "p_f64", "p_f64")),
}


def library_path() -> Path:
    """The library file beside this module (built by ``setup.py``)."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = HERE / (NAME + suffix)
        if path.exists():
            return path
    raise ImportError(
        f"fastdyn's CPU library ({NAME}*.so in {HERE}) is missing: fastdyn compiles it from "
        f"kernels/cuda/*.h with the system C++ compiler when the package is installed. "
        f"Install fastdyn with pip from its source folder: {REBUILD}")


def _load():
    path = library_path()
    clib = ctypes.CDLL(str(path))
    for name, (res, args) in SIGNATURES.items():
        fn = getattr(clib, "fdh_" + name)
        fn.restype = _TYPES[res][1]
        fn.argtypes = [_TYPES[a][1] for a in args]
    built = clib.fdh_source_hash().decode()
    here = source_hash()
    if built != here:
        raise ImportError(
            f"fastdyn's CPU library {path.name} was built from other sources (hash {built}) than "
            f"the headers in {HERE / 'cuda'} (hash {here}): they were edited since the last "
            f"build. Rebuild it: {REBUILD}")
    if clib.fdh_max_depth() != MAX_DEPTH:
        raise ImportError(f"{path.name}: MAX_DEPTH {clib.fdh_max_depth()} != {MAX_DEPTH} "
                          "(kernels/_constants.py)")
    # the symbols of Numba's external functions resolve against this process-wide load
    _llvm.load_library_permanently(str(path))
    return path, clib


PATH, lib = _load()

#: the C functions as Numba external functions: ``ext.rhs(...)`` inside @njit code calls
#: ``fdh_rhs`` (a module, so that Numba resolves ``ext.<name>`` at compile time)
ext = ModuleType(__name__ + ".ext")
for _name, (_res, _args) in SIGNATURES.items():
    if _TYPES[_res][0] is not None:
        setattr(ext, _name, types.ExternalFunction(
            "fdh_" + _name, _TYPES[_res][0](*[_TYPES[a][0] for a in _args])))


# ---------------------------------------------------------------------------
# pointers inside compiled code
# ---------------------------------------------------------------------------
def _data(context, builder, arr_type, value):
    return context.make_array(arr_type)(context, builder, value)


@intrinsic
def data_ptr(typingctx, arr):
    """Pointer to the first element of ``arr``; NULL when ``arr`` is empty ("no table")."""
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        ary = _data(context, builder, signature.args[0], args[0])
        null = context.get_constant_null(signature.return_type)
        empty = builder.icmp_signed("==", ary.nitems, ary.nitems.type(0))
        return builder.select(empty, null, ary.data)

    return sig, codegen


@intrinsic
def ptr_at(typingctx, arr, i):
    """Pointer to ``arr[i]`` (one-dimensional) or to ``arr[i, 0, ...]``: ``data + i * strides[0]``.

    Any layout and stride (a row of a 2-D array starts there; its elements
    follow at ``strides[1]``).
    """
    sig = types.CPointer(arr.dtype)(arr, i)

    def codegen(context, builder, signature, args):
        ary = _data(context, builder, signature.args[0], args[0])
        step = cgutils.unpack_tuple(builder, ary.strides)[0]
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        base = builder.ptrtoint(ary.data, cgutils.intp_t)
        return builder.inttoptr(builder.add(base, builder.mul(index, step)), ary.data.type)

    return sig, codegen


@intrinsic
def slot(typingctx, dtype):
    """Pointer to a fresh local variable of ``dtype`` (a NumPy dtype class): an out-argument."""
    nb = dtype.dtype if isinstance(dtype, types.NumberClass) else None
    if nb is None:
        return None
    sig = types.CPointer(nb)(dtype)

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_data_type(nb))

    return sig, codegen


@intrinsic
def load(typingctx, ptr):
    """The value a pointer points to."""
    if not isinstance(ptr, types.CPointer):
        return None
    sig = ptr.dtype(ptr)

    def codegen(context, builder, signature, args):
        return builder.load(args[0])

    return sig, codegen
