"""Backend selection: the computation follows the array type.

* NumPy (or Python) inputs run on the CPU (Numba kernels);
* CuPy inputs run on the GPU that holds them and return CuPy arrays;
* ``backend="cpu" | "gpu" | "auto"`` overrides: ``"gpu"`` with NumPy inputs
  copies them to the device once (in chunks that fit its free memory) and
  returns NumPy arrays; ``"cpu"`` with CuPy inputs is refused, since it would
  need an implicit device-to-host copy.

CuPy is never imported here.  A CuPy array can only exist if the user has
imported CuPy already, so looking it up in ``sys.modules`` detects device
arrays at no cost on machines without CuPy or without a GPU.
"""

from __future__ import annotations

import sys

import numpy as np

BACKENDS = ("auto", "cpu", "gpu")


def cupy_module():
    """The CuPy module if it has been imported, else None (never imports it)."""
    return sys.modules.get("cupy")


def is_device_array(x) -> bool:
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(x, cp.ndarray)


def is_dask(*xs) -> bool:
    """Whether any argument is a dask array (free when dask has not been imported)."""
    if "dask" not in sys.modules:
        return False
    return any(type(x).__module__.startswith("dask.") and hasattr(x, "chunks") for x in xs)


def _is_host_array(x) -> bool:
    """A NumPy array with at least one dimension (scalars go anywhere)."""
    return isinstance(x, np.ndarray) and x.ndim > 0


def select(backend: object, arrays: dict[str, object]) -> tuple[str, bool]:
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
    if not isinstance(backend, str):
        raise TypeError(f"`backend` must be a str; got {type(backend).__name__}.")
    if backend not in BACKENDS:
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
