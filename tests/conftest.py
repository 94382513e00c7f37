"""Shared test configuration: a deterministic hypothesis profile without deadlines.

JIT compile times vary from run to run, so no example may fail on time.
``FASTDYN_HYPOTHESIS_PROFILE=thorough`` runs many more examples on demand.
"""

import os

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
