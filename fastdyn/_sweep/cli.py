"""Command line: ``fastdyn sweep CONFIG.toml`` and ``fastdyn bench``.

Registered by ``fastdyn._cli`` through :func:`add_parser`; nothing heavy
(dask, zarr, scipy) is imported until a subcommand runs.
"""

from __future__ import annotations

import argparse
import os
import sys


def _sweep(args: argparse.Namespace) -> int:
    from . import sweep

    store = args.store or os.path.splitext(args.config)[0] + ".zarr"
    progress = False if args.quiet else args.progress
    try:
        report = sweep(args.config, store, scheduler=args.scheduler, backend=args.backend,
                       progress=progress, overwrite=args.overwrite)
    except (ValueError, TypeError) as exc:
        print(f"fastdyn sweep: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"fastdyn sweep: {report.computed} of {report.n_chunks} chunks computed "
              f"({report.n_chunks - report.computed} already done) in {report.seconds:.1f} s; "
              f"store {report.store}")
        if report.failed_features:
            print(f"fastdyn sweep: {report.failed_features} feature-combinations failed; see the "
                  "store's `status` array", file=sys.stderr)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .. import _benchmark

    return _benchmark.main(args)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def add_parser(subparsers) -> None:
    """Register the ``sweep`` and ``bench`` subcommands."""
    p = subparsers.add_parser(
        "sweep", help="run a Monte Carlo sweep from a TOML config into a Zarr store",
        description="Run a study (feature parameters x objectives x depths x eps) chunk by chunk "
                    "into a Zarr store. Re-running with the same config resumes: only chunks "
                    "without a completion record are computed.")
    p.add_argument("config", metavar="CONFIG", help="TOML file describing the study")
    p.add_argument("--store", help="Zarr store directory (default: CONFIG with suffix .zarr)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address tcp://host:port (default: run in this process)")
    p.add_argument("--backend", choices=("cpu", "gpu"), default="cpu",
                   help="cpu (default): Numba threads on all cores; gpu: each chunk on the GPU")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar and no summary line")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar (default: shown when stderr is a terminal)")
    p.add_argument("--overwrite", action="store_true",
                   help="discard an existing store at the path instead of resuming it")
    p.set_defaults(func=_sweep)

    b = subparsers.add_parser(
        "bench", help="measure fastdyn's throughput on this machine against scipy",
        description="The standard benchmark (depth 5, eps 1e-3, 64 times): throughput of each "
                    "method and its ratio to scipy's solve_ivp measured in the same run.")
    b.add_argument("--sizes", nargs="+", type=_positive_int, metavar="N",
                   help="feature counts (default 1e3 1e4 1e5 1e6)")
    b.add_argument("--rounds", type=_positive_int, default=3, help="timed rounds per case (best)")
    b.add_argument("--objectives", nargs="+", choices=("jepa", "mae"), default=["jepa", "mae"])
    b.add_argument("--quick", action="store_true", help="sizes 1e3 and 1e5 only")
    b.add_argument("--scipy-n", type=_positive_int, metavar="N",
                   help="features of the solve_ivp baseline (default 1000 JEPA, 10000 MAE)")
    b.set_defaults(func=_bench)



def main(argv: list[str] | None = None) -> int:
    """``python -m fastdyn._sweep.cli sweep|bench ...``: these two subcommands only."""
    parser = argparse.ArgumentParser(prog="fastdyn")
    add_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
