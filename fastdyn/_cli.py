"""The ``fastdyn`` command line: ``fastdyn figure N``, ``fastdyn sweep CONFIG``, ``fastdyn bench``.

Each subcommand lives in its own module, which registers its arguments with
``add_parser(subparsers)`` and imports its heavy dependencies (matplotlib,
dask, zarr) only when the subcommand runs, so ``fastdyn --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# modules that define ``add_parser(subparsers)``; each sets ``func`` on its parser
_SUBCOMMAND_MODULES = ("fastdyn._figures.cli", "fastdyn._sweep.cli")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="fastdyn",
        description="Learning dynamics of deep linear JEPA and MAE models (Littwin et al. 2024).",
    )
    parser.add_argument("--version", action="version", version=f"fastdyn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
