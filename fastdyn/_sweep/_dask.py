"""dask.array inputs for the public functions: one ``map_blocks`` over the features.

``fastdyn.trajectory`` and friends call :func:`apply` when any per-feature
argument is a ``dask.array.Array``; the result is a lazy dask array whose
blocks are the NumPy results of the same function on the inputs' blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._backend import is_dask  # noqa: F401  (one definition, shared with the API)

#: functions whose result gains a trailing time axis of length ``len(t)``
_TIME_AXIS = {"trajectory"}





def apply(func: Callable, arrays: Mapping[str, Any], kwargs: Mapping[str, Any]):
    """Map a public fastdyn function over the blocks of dask-array inputs.

    Parameters
    ----------
    func : callable
        A public function of :mod:`fastdyn` (``trajectory``, ``critical_time``,
        ``time_to_reach``, ``advance``, ``fixed_point``, ``rhs``).
    arrays : mapping of str to array_like
        The per-feature arguments by keyword (``lam``, ``rho``, ``eps``,
        ``depth``, ``w``, ``dt``, ``p``): dask arrays, NumPy arrays or scalars.
        They are broadcast to one batch shape (NumPy broadcasting rules) and
        their chunks unified; scalars and NumPy arrays become single-chunk
        dask arrays first.
    kwargs : mapping of str to object
        Everything else, passed unchanged to every block: ``t`` (a NumPy
        array of times for ``trajectory``), ``objective``, ``method``,
        ``rtol``, ``max_steps``...  ``out`` and ``return_status=True`` are not
        supported with dask inputs (a block cannot write into a user's array,
        and the status would be a second output).

    Returns
    -------
    dask.array.Array
        float64 (the ``dtype`` keyword's type when given), shape
        ``batch_shape`` (``batch_shape + (len(t),)`` for
        ``trajectory``, with one chunk along the time axis), chunks equal to
        the unified chunks of the inputs.  Input validation runs per block at
        compute time, so error messages index into the failing block.
    """
    import dask.array as da

    if kwargs.get("out") is not None:
        raise ValueError("`out` is not supported with dask-array inputs; the result is a dask array.")
    if kwargs.get("return_status"):
        raise ValueError("`return_status=True` is not supported with dask-array inputs.")
    kwargs = {k: v for k, v in kwargs.items() if k not in ("out", "return_status")}
    names = list(arrays)
    if not names:
        raise ValueError("`arrays` must name at least one per-feature argument.")
    dask_arrays = []
    for name in names:
        x = arrays[name]
        if not is_dask(x):
            x = np.asarray(x)
            x = da.from_array(x, chunks=x.shape)
        dask_arrays.append(x)
    try:
        dask_arrays = da.broadcast_arrays(*dask_arrays)
    except ValueError:
        shapes = {n: tuple(a.shape) for n, a in zip(names, dask_arrays)}
        raise ValueError(f"the per-feature arguments do not broadcast to one shape: {shapes}.") from None
    ndim = dask_arrays[0].ndim
    _, dask_arrays = da.core.unify_chunks(*[x for a in dask_arrays for x in (a, tuple(range(ndim)))])
    chunks = dask_arrays[0].chunks
    fname = getattr(func, "__name__", "")

    # float64 unless the function is asked for float32 (ODE on the GPU)
    dtype = np.dtype(kwargs.get("dtype") or np.float64)

    def block(*blocks):
        return np.asarray(func(**dict(zip(names, blocks)), **kwargs))

    if fname in _TIME_AXIS:
        from .._validate import time_grid

        # validated here, once: the block function needs its length for the chunks
        kwargs["t"] = t = time_grid(kwargs.get("t"))
        n_t = int(t.shape[0])
        return da.map_blocks(block, *dask_arrays, dtype=dtype, chunks=chunks + ((n_t,),),
                             new_axis=ndim, meta=np.empty((0,) * (ndim + 1), dtype=dtype),
                             token=f"fastdyn-{fname}")
    return da.map_blocks(block, *dask_arrays, dtype=dtype, chunks=chunks,
                         meta=np.empty((0,) * ndim, dtype=dtype), token=f"fastdyn-{fname}")
