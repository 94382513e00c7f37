"""The ``fastdyn`` command line: ``fastdyn figure N``, ``fastdyn sweep CONFIG``, ``fastdyn bench``.

Each subcommand lives in its own module, which registers its arguments with
``add_parser(subparsers)`` and imports its heavy dependencies (matplotlib,
dask, zarr) only when the subcommand runs, so ``fastdyn --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# modules that define ``add_parser(subparsers)``; each sets ``func`` on its parser
_SUBCOMMAND_MODULES = ("fastdyn._figures.cli", "fastdyn._sweep.cli")


def error(prog: str, message: str, status: int = 2) -> int:
    """Print ``prog: error: message`` on stderr, as argparse does, and return ``status``.

    Every command reports bad input this way, in one line and with exit
    status 2, never with a traceback.
    """
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status


def option(convert, check=None):
    """An argparse ``type=`` that converts the text, then runs a fastdyn validator on it.

    The validator's message (which names the parameter and the value)
    becomes the option's error: ``fastdyn-demo: error: argument --depth:
    `depth` must be at most 64 (fastdyn's domain); got 65.``, exit status 2.
    """

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {convert.__name__} value: {text!r}") from None
        if check is not None:
            try:
                check(value)
            except (TypeError, ValueError) as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = convert.__name__
    return parse


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


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
