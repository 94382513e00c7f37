"""fastdyn's CPU library: how it is built, found, checked and declared.

The per-feature math is compiled from ``kernels/cuda/*.h`` into
``fastdyn/kernels/_libfastdyn*.so`` when the package is built (``setup.py``);
``fastdyn.kernels._lib`` loads it and declares its functions once, for Numba
and ctypes.  Here: the declarations match the C source, the library exports
exactly the declared functions, it carries the hash of the sources beside it,
a stale or missing library is refused with the command that rebuilds it, the
build flags forbid contraction and fast-math, and a machine without a C++
compiler gets a clear error from the build.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastdyn.kernels import _lib, _source_hash

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "kernels" / "cuda" / "host_library.cpp"
C_TYPES = {"double": "f64", "float": "f32", "i64": "i64", "i8": "i8", "void": "void",
           "const char*": "str", "double*": "p_f64", "const double*": "p_f64",
           "float*": "p_f32", "const float*": "p_f32", "i8*": "p_i8", "i64*": "p_i64", "const i64*": "p_i64"}


def c_signatures():
    """``{name: (result, (arguments...))}`` of every FD_EXPORT function of host_library.cpp."""
    text = SOURCE.read_text()
    out = {}
    for m in re.finditer(r"FD_EXPORT\s+([\w\s\*]+?)\s*\bfdh_(\w+)\(([^)]*)\)", text):
        # FD_SIMD_TARGETS: compiled once per instruction set (simd.h), not part of the type
        res = " ".join(w for w in m.group(1).split() if w != "FD_SIMD_TARGETS")
        args = [a.strip() for a in m.group(3).split(",") if a.strip()]
        types = tuple(C_TYPES[" ".join(re.sub(r"\s*\*", "*", a).rsplit(" ", 1)[0].split())]
                      for a in args)
        out[m.group(2)] = (C_TYPES[res], types)
    return out


def test_declarations_match_the_c_source():
    assert c_signatures() == _lib.SIGNATURES


def test_library_exports_exactly_the_declared_functions():
    nm = subprocess.run(["nm", "-D", "--defined-only", str(_lib.PATH)], capture_output=True,
                        text=True)
    if nm.returncode != 0:
        pytest.skip("nm not available")
    # T: plain functions; i: FD_SIMD_TARGETS functions (an ifunc that picks the clone at load)
    exported = set(re.findall(r"\b[Ti] (fdh_\w+)$", nm.stdout, re.M))
    assert exported == {"fdh_" + name for name in _lib.SIGNATURES}


def test_library_carries_the_hash_of_its_sources():
    assert _lib.lib.fdh_source_hash().decode() == _source_hash.source_hash()
    assert _lib.lib.fdh_max_depth() == 64


def test_a_library_built_from_other_sources_is_refused(monkeypatch):
    monkeypatch.setattr(_lib, "source_hash", lambda: "0123456789abcdef")
    with pytest.raises(ImportError, match=r"built from other sources.*Rebuild it: python3 -m pip"):
        _lib._load()


def test_a_missing_library_names_the_install_command(monkeypatch):
    monkeypatch.setattr(_lib, "NAME", "_no_such_library")
    with pytest.raises(ImportError, match=r"CPU library \(_no_such_library\*\.so .* is missing.*pip"):
        _lib._load()


def test_source_hash_covers_every_header_and_the_library_source(tmp_path):
    for f in _source_hash.library_sources():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "exact_kernels.cu").write_text("// GPU entry points are not part of the library\n")
    assert _source_hash.source_hash(tmp_path) == _source_hash.source_hash()
    names = {f.name for f in _source_hash.library_sources()}
    assert {"config.h", "closed.h", "ema.h", "host_library.cpp"} <= names
    header = tmp_path / "closed.h"
    header.write_text(header.read_text() + "\n")
    assert _source_hash.source_hash(tmp_path) != _source_hash.source_hash()


def test_build_flags_forbid_contraction_and_fast_math():
    setup = (ROOT / "setup.py").read_text()
    flags = re.search(r"UNIX_FLAGS = \[(.*?)\]", setup, re.S).group(1)
    for flag in ("-O3", "-fno-fast-math", "-ffp-contract=off", "-std=c++17"):
        assert f'"{flag}"' in flags
    assert '"/fp:precise"' in setup
    assert "-ffast-math" not in flags.replace("-fno-fast-math", "")


@pytest.mark.skipif(sys.platform != "linux", reason="PATH manipulation written for Linux")
def test_build_without_a_compiler_fails_with_a_clear_message(tmp_path):
    """No $CXX, no g++/clang++/c++ on PATH: setup.py stops with a one-line explanation."""
    env = {k: v for k, v in os.environ.items() if k not in ("CXX", "CC")}
    env["PATH"] = str(Path(sys.executable).parent)  # python only
    res = subprocess.run([sys.executable, str(ROOT / "setup.py"), "-q", "build_ext",
                          "--build-temp", str(tmp_path / "t"), "--build-lib", str(tmp_path / "l")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "fastdyn needs a C++17 compiler" in res.stderr
    assert "apt-get install g++" in res.stderr


def test_status_codes_of_the_headers_are_the_constants():
    """config.h's status and objective codes are kernels/_constants.py's (one meaning)."""
    from fastdyn.kernels import _constants as C

    text = (ROOT / "kernels" / "cuda" / "config.h").read_text()
    found = dict(re.findall(r"constexpr (?:signed char|int) (\w+) = (-?\d+);", text))
    assert len(found) >= 12
    for name, value in found.items():
        assert getattr(C, name) == int(value), name
