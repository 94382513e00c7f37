"""``fastdyn figure N``: reproduce figure N (1..6) of the paper as PNG/PDF/SVG."""

from __future__ import annotations

import argparse
import sys
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
    """One output path per format; ``--out``'s suffix is replaced by each format's."""
    base = Path(out) if out else Path(f"figure{n}.png")
    if base.suffix.lower().lstrip(".") in FORMATS:
        base = base.with_suffix("")
    return [base.with_name(base.name + "." + f) for f in formats]


def run(args: argparse.Namespace) -> int:
    from . import module

    try:
        formats = _formats(args.format)
    except argparse.ArgumentTypeError as exc:
        print(f"fastdyn figure: error: {exc}", file=sys.stderr)
        return 2
    try:
        mod = module(args.N)
    except NotImplementedError as exc:
        print(f"fastdyn figure: error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    data = mod.data(quick=args.quick, backend=args.backend, progress=not args.quiet)
    written = mod.plot(data, _paths(args.N, args.out, formats))
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
    p.add_argument("N", type=int, choices=FIGURES, help="figure number, 1..6")
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
