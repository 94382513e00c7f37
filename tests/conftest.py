"""Shared test configuration: a deterministic hypothesis profile without deadlines.

JIT compile times vary from run to run, so no example may fail on time.
``FASTDYN_HYPOTHESIS_PROFILE=thorough`` runs many more examples on demand.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    derandomize=True,
    max_examples=2000,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("FASTDYN_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(params=["host", pytest.param("gpu", marks=pytest.mark.gpu)])
def cp(request, monkeypatch):
    """A CuPy namespace: the stand-in (tests/fake_cupy.py) on the host, or the real one on a GPU.

    fastdyn's caches of compiled modules and device tables are emptied around each use.
    """
    import sys

    import cuda_host
    import fake_cupy

    from fastdyn import _gpu

    if request.param == "host":
        fake_cupy.reset()
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
        module = fake_cupy
    else:
        module = cuda_host.real_cupy_or_skip()
    monkeypatch.setattr(_gpu, "_MODULES", {})
    monkeypatch.setattr(_gpu, "_TABLES", {})
    yield module
    fake_cupy.reset()
