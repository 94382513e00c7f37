"""Installs that stay working: the Numba cache lives outside the package, the README's commands work.

The defect this guards against: Numba's cache files, written into
``site-packages/fastdyn/kernels/__pycache__`` at run time, survived ``pip
uninstall`` and turned the leftover folder into a namespace package that
shadowed the next (editable) install: ``fastdyn --help`` then failed with
"cannot import name '__version__' from 'fastdyn' (unknown location)".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import fastdyn
from fastdyn.kernels import _jit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = [Path(fastdyn.__file__).resolve().parent,
                Path(fastdyn.kernels.__file__).resolve().parent]


def _cache_files(folders) -> set[Path]:
    return {p for d in folders for p in d.rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_compiled_kernels_are_cached_outside_the_package(tmp_path):
    before = _cache_files(PACKAGE_DIRS)
    code = ("import fastdyn as fd; fd.critical_time(1.0, 0.5, depth=2, eps=1e-3, objective='jepa');"
            "from fastdyn.kernels import _jit; print(_jit.cache_dir())")
    env = {**os.environ, "FASTDYN_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == str(tmp_path / "cache")
    assert _cache_files([tmp_path / "cache"]), "no Numba cache file in FASTDYN_CACHE_DIR"
    assert _cache_files(PACKAGE_DIRS) == before, "cache files written into the package"


def test_the_default_cache_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTDYN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _jit.cache_dir() == tmp_path / "fastdyn"
    assert not str(_jit.cache_dir()).startswith(str(PACKAGE_DIRS[0]))


def test_users_own_cached_functions_keep_numbas_locator(tmp_path):
    """fastdyn sets Numba's CACHE_DIR only while its own kernels are decorated."""
    import numba

    assert numba.config.CACHE_DIR == os.environ.get("NUMBA_CACHE_DIR", "")


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)[1]
    return block.splitlines()[:2]


def test_readme_opens_with_the_two_commands():
    install, test = _readme_commands()
    assert install.startswith("python3 -m pip install . && fastdyn-demo")
    assert test == 'python3 -m pip install -e ".[test]" && python3 -m pytest'


@pytest.mark.slow
def test_readme_commands_in_one_fresh_virtualenv_leave_a_working_install(tmp_path):
    """The README's first command, then the install of its second, in one fresh virtualenv
    (the tests of the second command are this suite itself, so they are not rerun here)."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "VIRTUAL_ENV": str(env_dir), "FASTDYN_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)
    install, test = _readme_commands()
    first = install.replace("python3", str(bin_dir / "python3")).replace(
        "fastdyn-demo", "fastdyn-demo -n 20000")
    subprocess.run(first, shell=True, cwd=ROOT, env=env, check=True, timeout=900)
    second_install = test.split("&&")[0].replace("python3", str(bin_dir / "python3"))
    subprocess.run(second_install, shell=True, cwd=ROOT, env=env, check=True, timeout=900)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cmd in (["fastdyn", "--help"], ["fastdyn-demo", "--help"]):
        subprocess.run([str(bin_dir / cmd[0]), *cmd[1:]], cwd=elsewhere, env=env, check=True,
                       capture_output=True, timeout=120)
    code = ("import fastdyn as fd, pathlib; print(fd.__version__); "
            "print(pathlib.Path(fd.__file__).parent); "
            "print(fd.critical_time(1.0, 0.5, depth=2, eps=1e-3, objective='jepa'))")
    out = subprocess.run([str(bin_dir / "python3"), "-c", code], cwd=elsewhere, env=env,
                         check=True, capture_output=True, text=True, timeout=120).stdout.split()
    assert out[0] == fastdyn.__version__
    assert Path(out[1]) == ROOT / "fastdyn"  # the editable install, not a leftover folder
    assert float(out[2]) > 0
