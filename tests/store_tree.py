"""Byte-for-byte snapshot of a Zarr store, to compare stores written by different runs."""

import os


def tree(path):
    """Every file of a store, relative path -> bytes."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            full = os.path.join(d, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = fh.read()
    return out


def leftovers(path):
    """What sits next to the store besides it: lock files, creations and replaced stores."""
    parent, name = os.path.split(os.path.abspath(path))
    return sorted(e for e in os.listdir(parent)
                  if e != name and (e.startswith(name) or e.startswith("." + name)))
