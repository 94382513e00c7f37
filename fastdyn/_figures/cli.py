"""``fastdyn figure N``: reproduce figure N (1..6) of the paper, or figure 7 beyond it, as PNG/PDF/SVG."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import FIGURES, FORMATS


def _formats(values: list[str] | None) -> list[str]:
    """``--format`` values, repeatable or comma-separated, in order, without repeats."""
    out: list[str] = []
    for value in values or ["png"]:
        for f in value.split(","):
            f = f.strip().lower()
            if f not in FORMATS:
                raise argparse.ArgumentTypeError(
                    f"--format must be one of {', '.join(FORMATS)}; got {f!r}.")
            if f not in out:
                out.append(f)
    return out


def _paths(n: int, out: str | None, formats: list[str]) -> list[Path]:
    """One output path per format; ``--out``'s suffix is replaced by each format's.

    An ``--out`` that is an existing folder, or ends with a path separator,
    names the folder: the files are ``figureN.<format>`` inside it.
    """
    if out and (out.endswith(("/", os.sep)) or Path(out).is_dir()):
        base = Path(out) / f"figure{n}"
    else:
        base = Path(out) if out else Path(f"figure{n}.png")
    if base.suffix.lower().lstrip(".") in FORMATS:
        base = base.with_suffix("")
    return [base.with_name(base.name + "." + f) for f in formats]


def _writable(paths: list[Path]) -> str | None:
    """Why the figure cannot be written to ``paths`` (None if it can): checked before computing."""
    for p in paths:
        folder = p.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create the folder {str(folder)!r}: {exc.strerror or exc}"
        if p.is_dir():
            return f"{str(p)!r} is a folder"
        try:  # a real write: permission bits do not tell (root, read-only mounts, /proc)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".fastdyn-figure-"):
                pass
        except OSError as exc:
            return f"cannot write into the folder {str(folder)!r}: {exc.strerror or exc}"
    return None


def run(args: argparse.Namespace) -> int:
    from .. import _arrays
    from .._cli import error
    from . import array_module, module

    prog = "fastdyn figure"
    try:
        formats = _formats(args.format)
    except argparse.ArgumentTypeError as exc:
        return error(prog, str(exc))
    try:
        mod = module(args.N)
    except NotImplementedError as exc:
        return error(prog, str(exc))
    if args.backend not in getattr(mod, "BACKENDS", ("cpu", "gpu")):
        return error(prog, f"--backend {args.backend}: figure {args.N} runs on "
                           f"{' and '.join(mod.BACKENDS).upper()} only.")
    try:
        array_module(args.backend)
    except _arrays.GPUUnavailableError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return error(prog, f"--backend gpu needs CuPy and a CUDA device: {cause}")
    paths = _paths(args.N, args.out, formats)
    why = _writable(paths)
    if why is not None:
        return error(prog, f"--out {args.out}: {why}.")
    start = time.perf_counter()
    data = mod.data(quick=args.quick, backend=args.backend, progress=not args.quiet)
    try:
        written = mod.plot(data, paths)
    except OSError as exc:  # the folder vanished or filled up while computing
        return error(prog, f"--out {args.out or paths[0]}: cannot write the figure: {exc}.")
    if not args.quiet:
        print(f"figure {args.N}: wrote {', '.join(written)} in "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``figure`` subcommand."""
    p = subparsers.add_parser(
        "figure",
        help="reproduce a figure of the paper",
        description="Reproduce figure N of Littwin et al. (2024) and write it as PNG "
                    "(optionally PDF/SVG).  Parameters the paper does not state are "
                    "printed in the figure's caption.",
    )
    p.add_argument("N", type=int, choices=FIGURES, help="figure number, 1..6 (the paper), 7 (finite lr, unbalanced init)")
    p.add_argument("--out", metavar="PATH", default=None,
                   help="output file (default figureN.png); the suffix follows --format")
    p.add_argument("--format", action="append", metavar="FMT",
                   help="png, pdf or svg; repeatable or comma-separated (default png)")
    p.add_argument("--backend", choices=("cpu", "gpu"), default="cpu",
                   help="array backend: cpu (NumPy) or gpu (CuPy)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    p.add_argument("--quick", action="store_true",
                   help="reduced sample sizes (seconds; for tests and previews)")
    p.set_defaults(func=run)
    return p
