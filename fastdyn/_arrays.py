"""Array modules, backends and host/device transfers: the one place that knows about CuPy and Dask.

* NumPy (or Python) inputs run on the CPU (Numba kernels);
* CuPy inputs run on the GPU that holds them and return CuPy arrays;
* ``backend="cpu" | "gpu" | "auto"`` overrides: ``"gpu"`` with NumPy inputs
  copies them to the device once (in chunks that fit its free memory) and
  returns NumPy arrays; ``"cpu"`` with CuPy inputs is refused, since it would
  need an implicit device-to-host copy.

CuPy and Dask are never imported here.  A CuPy (Dask) array can only exist if
the user has imported CuPy (Dask) already, so looking the module up in
``sys.modules`` detects such arrays at no cost on machines without them.
:func:`cupy` imports CuPy on demand (``backend="gpu"``) with an actionable
message when it or a device is missing.

models, train, analysis, the figures and the dispatch layer all use these
helpers; nothing else tests for CuPy or moves data between host and device.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "GPUUnavailableError",
    "cupy",
    "cupy_if_imported",
    "gpu_available",
    "is_dask",
    "is_device_array",
    "module_of",
    "select_backend",
    "to_device",
    "to_host",
]

BACKENDS = ("auto", "cpu", "gpu")


class GPUUnavailableError(RuntimeError):
    """The GPU backend was asked for, but CuPy or a CUDA device is missing."""


def cupy_if_imported():
    """The CuPy module if it has been imported, else None (never imports it)."""
    return sys.modules.get("cupy")


def cupy():
    """Import CuPy and check that a device exists; :class:`GPUUnavailableError` otherwise."""
    try:
        import cupy as cp
    except ImportError as exc:
        raise GPUUnavailableError(
            "the GPU backend needs CuPy: install the wheel matching your CUDA driver, "
            "e.g. `pip install cupy-cuda12x` (https://docs.cupy.dev/en/stable/install.html)."
        ) from exc
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        raise GPUUnavailableError(f"the GPU backend needs an NVIDIA GPU; CUDA reports: {exc}") from exc
    if count < 1:
        raise GPUUnavailableError("the GPU backend needs an NVIDIA GPU; CUDA reports no device.")
    return cp


def gpu_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device."""
    try:
        cupy()
    except GPUUnavailableError:
        return False
    return True


def is_device_array(x: Any) -> bool:
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(x, cp.ndarray)


def is_dask(*xs: Any) -> bool:
    """Whether any argument is a dask array (free when dask has not been imported)."""
    if "dask" not in sys.modules:
        return False
    return any(type(x).__module__.startswith("dask.") and hasattr(x, "chunks") for x in xs)


def module_of(*arrays: Any):
    """``cupy`` if any argument is a CuPy array, else ``numpy``."""
    cp = sys.modules.get("cupy")
    if cp is not None and any(isinstance(a, cp.ndarray) for a in arrays):
        return cp
    return np


def to_host(x: Any) -> Any:
    """A NumPy array (or the value itself) for a CuPy array; host values unchanged.

    The only device-to-host copy in fastdyn: called where the user asked for a
    NumPy result or a host-side check needs the values (error messages).
    """
    if is_device_array(x):
        return x.get()
    return x


def to_device(cp, x: Any, dtype=None):
    """``cupy.asarray(x, dtype)``: the explicit host-to-device copy."""
    return cp.asarray(x, dtype=dtype)


def _is_host_array(x: Any) -> bool:
    """A NumPy array with at least one dimension (scalars go anywhere)."""
    return isinstance(x, np.ndarray) and x.ndim > 0


def select_backend(backend: object, arrays: dict[str, object]) -> tuple[str, bool]:
    """Resolve ``backend`` for the given named inputs.

    Returns
    -------
    where : {"cpu", "gpu"}
    on_device : bool
        True when the inputs are CuPy arrays (results stay on the device).

    Raises
    ------
    TypeError
        Mixed NumPy/CuPy inputs, or CuPy inputs with ``backend="cpu"``; the
        message says how to fix the call.
    ValueError
        An unknown ``backend``.
    """
    if backend == "auto" or backend == "cpu":
        pass
    elif not isinstance(backend, str):
        raise TypeError(f"`backend` must be a str; got {type(backend).__name__}.")
    elif backend != "gpu":
        raise ValueError(f"`backend` must be 'auto', 'cpu' or 'gpu'; got {backend!r}.")
    cp = sys.modules.get("cupy")
    if cp is None:  # no CuPy imported: no device array can exist
        return ("gpu" if backend == "gpu" else "cpu"), False
    device = [name for name, a in arrays.items() if isinstance(a, cp.ndarray)]
    if device:
        host = [name for name, a in arrays.items() if _is_host_array(a)]
        if host:
            raise TypeError(
                f"mixed NumPy and CuPy inputs: {_names(device)} on the GPU, {_names(host)} "
                f"on the CPU. fastdyn never copies between host and device implicitly: move "
                f"them to one side first, e.g. `cupy.asarray({host[0]})` to compute on the GPU "
                f"or `{device[0]}.get()` to compute on the CPU."
            )
        if backend == "cpu":
            raise TypeError(
                f"backend='cpu' was asked for but {_names(device)} "
                f"{'is a CuPy array' if len(device) == 1 else 'are CuPy arrays'}; fastdyn never "
                f"copies device arrays to the host implicitly: pass `{device[0]}.get()` (NumPy) "
                f"or use backend='auto'."
            )
        return "gpu", True
    return ("gpu" if backend == "gpu" else "cpu"), False


def _names(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
