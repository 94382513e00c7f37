"""Command line: ``fastdyn sweep CONFIG.toml``, ``fastdyn verify STORE`` and ``fastdyn bench``.

Registered by ``fastdyn._cli`` through :func:`add_parser`; nothing heavy
(dask, zarr, scipy) is imported until a subcommand runs.
"""

from __future__ import annotations

import argparse
import os
import sys


#: exit status of a sweep refused because another sweep holds the store's lock
#: (sysexits.h EX_TEMPFAIL: try again later)
EXIT_LOCKED = 75
_OPTIONS = {"config": "CONFIG", "store": "--store", "backend": "--backend",
            "scheduler": "--scheduler", "verify": "--verify", "wait": "--wait"}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _error(command: str, option: str | None, exc: BaseException) -> None:
    where = f"argument {option}: " if option else ""
    print(f"fastdyn {command}: error: {where}{_one_line(exc)}", file=sys.stderr)


def _sweep(args: argparse.Namespace) -> int:
    from . import StoreLocked, sweep

    store = args.store or os.path.splitext(args.config)[0] + ".zarr"
    progress = False if args.quiet else args.progress
    try:
        report = sweep(args.config, store, scheduler=args.scheduler, backend=args.backend,
                       progress=progress, overwrite=args.overwrite, verify=args.verify,
                       wait=args.wait)
    except (ValueError, TypeError) as exc:
        _error("sweep", _OPTIONS.get(getattr(exc, "fastdyn_param", None), "--store"), exc)
        return 2
    except StoreLocked as exc:
        _error("sweep", "--store", exc)
        return EXIT_LOCKED
    except KeyboardInterrupt:
        print("fastdyn sweep: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        # the filesystem failed (full, read-only, gone): the store stays resumable
        print(f"fastdyn sweep: error: {_one_line(exc)}; run the same command again to resume once "
              "that is fixed", file=sys.stderr)
        return 1
    if report.repaired:
        first = min(report.repaired)
        print(f"fastdyn sweep: {len(report.repaired)} damaged chunk(s) recomputed (chunk {first}: "
              f"{report.repaired[first][0]})", file=sys.stderr)
    if report.repaired_metadata:
        print(f"fastdyn sweep: metadata repaired: {'; '.join(report.repaired_metadata[:3])}"
              + (f" (and {len(report.repaired_metadata) - 3} more)"
                 if len(report.repaired_metadata) > 3 else ""), file=sys.stderr)
    if not args.quiet:
        print(f"fastdyn sweep: {report.computed} of {report.n_chunks} chunks computed "
              f"({report.n_chunks - report.computed} already done) in {report.seconds:.1f} s; "
              f"store {report.store}")
        if report.failed_features:
            extra = (f" ({report.out_of_domain} with lam or rho outside the documented domain)"
                     if report.out_of_domain else "")
            print(f"fastdyn sweep: {report.failed_features} feature-combinations failed{extra}; "
                  "see the store's `status` (and `gd_status`) arrays", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    import time

    from . import StoreDamaged, StoreError, verify
    from ._lock import describe

    t0 = time.perf_counter()
    try:
        health = verify(args.store, full=not args.quick)
    except StoreDamaged as exc:
        print(f"fastdyn verify: {_one_line(exc)}", file=sys.stderr)
        return 1
    except StoreError as exc:
        _error("verify", "STORE", exc)
        return 2
    seconds = time.perf_counter() - t0
    how = "every byte's checksum" if health.checked == "full" else "sizes and recorded checksums"
    out = sys.stdout if health.healthy else sys.stderr
    for problem in health.metadata:
        print(f"  metadata: {problem}", file=out)
    for k in sorted(health.damaged):
        for problem in health.damaged[k]:
            print(f"  chunk {k}: {problem}", file=out)
    busy = (f"; being written by {describe(health.lock_holder)}" if health.lock_holder else "")
    if not health.healthy:
        print(f"fastdyn verify: {health.store}: DAMAGED: {len(health.damaged)} chunk(s), "
              f"{len(health.metadata)} metadata file(s); {health.done} of {health.n_chunks} chunks "
              f"done and intact{busy}. Repair: re-run the sweep with its config (`fastdyn sweep "
              f"CONFIG --store {health.store}`)", file=sys.stderr)
        return 1
    state = ("complete" if health.complete else
             "incomplete (re-run the sweep with its config to finish it)")
    print(f"fastdyn verify: {health.store}: healthy, {state}: {health.done} of {health.n_chunks} "
          f"chunks done, checked ({how}) in {seconds:.1f} s{busy}")
    return 0 if health.complete else 1


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0; got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0; got {text!r}")
    return value


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
    """Register the ``sweep``, ``verify`` and ``bench`` subcommands."""
    p = subparsers.add_parser(
        "sweep", help="run a Monte Carlo sweep from a TOML config into a Zarr store",
        description="Run a study (feature parameters x objectives x depths x eps) chunk by chunk "
                    "into a Zarr store. Re-running with the same config resumes: the chunks done "
                    "are verified, missing or damaged ones are computed. One sweep writes a store "
                    f"at a time (lock file STORE.lock). Exit status 2: bad input; {EXIT_LOCKED}: "
                    "another sweep holds the store; 1: the filesystem failed (resumable).")
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
                   help="discard an existing sweep store at the path (complete, partial or "
                        "damaged) instead of resuming it")
    p.add_argument("--verify", choices=("full", "quick"), default="full",
                   help="how a resume checks the chunks already done: full (default) reads every "
                        "file and checks its checksum; quick compares sizes and recorded checksums")
    p.add_argument("--wait", type=_seconds, default=0.0, metavar="SECONDS",
                   help="wait up to SECONDS for another sweep writing the same store (default: "
                        f"refuse at once, exit status {EXIT_LOCKED})")
    p.set_defaults(func=_sweep)

    v = subparsers.add_parser(
        "verify", help="check a sweep store's health without changing it",
        description="Check a sweep store: its metadata, and every done chunk's files against their "
                    "completion record and checksums. Exit status 0: healthy and complete; 1: "
                    "damaged or incomplete (re-running the sweep with its config repairs and "
                    "finishes it); 2: not a sweep store.")
    v.add_argument("store", metavar="STORE", help="the Zarr store directory of a sweep")
    v.add_argument("--quick", action="store_true",
                   help="compare sizes and recorded checksums only (no full read)")
    v.set_defaults(func=_verify)

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
    """``python -m fastdyn._sweep.cli sweep|verify|bench ...``: these subcommands only."""
    parser = argparse.ArgumentParser(prog="fastdyn")
    add_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
