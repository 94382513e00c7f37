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


# --------------------------------------------------------------------------
# array modules chosen by the user (models, train, figures)
# --------------------------------------------------------------------------


def generator_module(rng: Any):
    """The array module of a random generator: ``numpy`` for a NumPy Generator,
    ``cupy`` for a CuPy one (looked up only if CuPy is imported), else None."""
    if isinstance(rng, np.random.Generator):
        return np
    cp = sys.modules.get("cupy")
    gen = getattr(getattr(cp, "random", None), "Generator", None)
    if isinstance(gen, type) and isinstance(rng, gen):
        return cp
    return None


def array_module(xp: Any, name: str = "xp"):
    """Check an array module passed by the user (``xp=numpy``, ``xp=cupy``).

    Accepts NumPy and any module-like object with ``asarray`` and
    ``random.default_rng`` (CuPy, or a test double of it); a string such as
    ``"cupy"`` or anything else raises :class:`TypeError` saying what to pass.
    """
    if xp is np:
        return np
    if isinstance(xp, str):
        raise TypeError(
            f"`{name}` must be an array module, not a string; got {xp!r}: pass the module "
            f"itself, e.g. `import {xp if xp in ('numpy', 'cupy') else 'cupy'}` and "
            f"`{name}={xp if xp in ('numpy', 'cupy') else 'cupy'}`."
        )
    random = getattr(xp, "random", None)
    if not (callable(getattr(xp, "asarray", None)) and callable(getattr(random, "default_rng", None))):
        shown = f"module {xp.__name__!r}" if isinstance(xp, type(np)) else type(xp).__name__
        raise TypeError(f"`{name}` must be an array module such as numpy or cupy; got {shown}.")
    return xp


def backend_module(backend: object, name: str = "backend"):
    """``numpy`` for ``"cpu"``, ``cupy`` for ``"gpu"`` (checked to reach a device).

    Raises
    ------
    TypeError, ValueError
        ``backend`` is not ``"cpu"`` or ``"gpu"``.
    GPUUnavailableError
        ``"gpu"`` without CuPy or without a CUDA device.
    """
    if backend == "cpu":
        return np
    if not isinstance(backend, str):
        raise TypeError(f"`{name}` must be a str; got {type(backend).__name__}.")
    if backend != "gpu":
        raise ValueError(f"`{name}` must be 'cpu' or 'gpu'; got {backend!r}.")
    return cupy()


__all__ += ["array_module", "backend_module", "generator_module"]
