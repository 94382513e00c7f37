"""Helpers of the sweep tests: byte-for-byte snapshots of stores (to compare stores written by
different runs), what lies next to a store, configs as TOML files."""

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


def _toml_value(v):
    import json

    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(v)


def write_toml(cfg, path):
    """A sweep config dict (numbers, strings, lists, tables) as a TOML file at ``path``."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if k not in ("lam", "rho")]
    for k in ("lam", "rho"):
        if isinstance(cfg.get(k), dict):
            lines += [f"[{k}]"] + [f"{a} = {_toml_value(b)}" for a, b in cfg[k].items()]
        elif k in cfg:
            lines.insert(0, f"{k} = {_toml_value(cfg[k])}")
    path.write_text("\n".join(lines) + "\n")
    return path
