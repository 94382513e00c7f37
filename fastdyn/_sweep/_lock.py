"""One writer per store: an exclusive ``flock`` on ``<store>.lock``, naming its holder.

The lock file sits next to the store (``/data/s.zarr`` -> ``/data/s.zarr.lock``)
so that it exists before the store does and survives the store being replaced
(``overwrite=True``).  The writer that holds the lock records its host, pid,
start time and a random token in the file; a second writer reads them for its
message.  The kernel releases an ``flock`` when its process dies, however it
dies, so a lock is never stale: the record of a killed holder is simply
overwritten by the next one.  (On NFS, Linux implements ``flock`` with POSIX
byte-range locks, which the server releases when the client's process or, after
the lease time, the client itself is gone.)

A clean release unlinks the file while still holding the lock; a waiter that had
opened the unlinked file notices (its inode is no longer the path's) and opens
the path again, so two writers can never both hold "the" lock.

Dask workers do not lock: they write only chunk data, under the coordinator's
lease, and check before writing that the lease's token is still the one in the
lock file (:func:`check`); only the coordinator, holding the lock, writes a
chunk's completion record.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows)
    fcntl = None


class StoreLocked(RuntimeError):
    """Another sweep holds the store's lock.

    Attributes
    ----------
    lock : str
        Path of the lock file.
    holder : dict
        What the holder recorded: ``host``, ``pid``, ``since`` (may be empty
        while the holder is starting).
    """

    def __init__(self, message: str, lock: str, holder: dict):
        super().__init__(message)
        self.lock = lock
        self.holder = holder


class LeaseLost(RuntimeError):
    """A worker's coordinator no longer holds the store's lock; nothing was written."""


def lock_path(store: str) -> str:
    """``<store>.lock``: the lock file of the store at ``store`` (an absolute path)."""
    return os.path.normpath(store) + ".lock"


def describe(holder: dict) -> str:
    if not holder:
        return "a writer that is starting (no holder recorded yet)"
    return f"host {holder.get('host', '?')} pid {holder.get('pid', '?')} since {holder.get('since', '?')}"


def _read_holder(fd_or_path) -> dict:
    for _ in range(10):   # the holder writes its record right after locking: wait for it briefly
        try:
            if isinstance(fd_or_path, int):
                text = os.pread(fd_or_path, 4096, 0)
            else:
                with open(fd_or_path, "rb") as f:
                    text = f.read(4096)
            holder = json.loads(text)
            if isinstance(holder, dict):
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return {}


@dataclass
class Lease:
    """The lock on one store, held by this process until :meth:`release`."""

    store: str
    lock: str
    token: str
    fd: int | None

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            st = os.stat(self.lock)
            if (st.st_ino, st.st_dev) == (os.fstat(self.fd).st_ino, os.fstat(self.fd).st_dev):
                os.unlink(self.lock)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(store: str, wait: float = 0.0) -> Lease:
    """Take the store's lock, waiting up to ``wait`` seconds for another holder.

    Raises :class:`StoreLocked` naming the lock file and its holder when the
    lock is still taken after ``wait`` seconds (``wait=0``: refuse at once).
    """
    if fcntl is None:  # pragma: no cover
        raise OSError("fastdyn sweeps need fcntl.flock to lock their store (POSIX systems).")
    lock = lock_path(store)
    start = time.monotonic()
    deadline = start + wait
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = _read_holder(fd)
            os.close(fd)
            if not holder:
                # a writer that has just locked (its record follows at once) or a reader probing
                # with holder(): both let go within milliseconds, so give them half a second
                deadline = max(deadline, start + 0.5)
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreLocked(
                    f"`store` {store!r} is being written by another sweep: its lock {lock!r} is "
                    f"held by {describe(holder)}. Wait for that sweep to finish (or pass a wait "
                    "time: wait= / --wait SECONDS), or use another store path.", lock, holder) from None
            time.sleep(min(0.1, left))
            continue
        # the previous holder may have unlinked the file between our open and our flock
        try:
            st = os.stat(lock)
        except FileNotFoundError:
            os.close(fd)
            continue
        fst = os.fstat(fd)
        if (st.st_ino, st.st_dev) != (fst.st_ino, fst.st_dev):
            os.close(fd)
            continue
        break
    token = uuid.uuid4().hex
    holder = {"host": socket.gethostname(), "pid": os.getpid(),
              "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": token}
    data = json.dumps(holder).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
    return Lease(store, lock, token, fd)


def check(lock: str, token: str) -> None:
    """Raise :class:`LeaseLost` unless the lock file still records ``token`` (for Dask workers)."""
    holder = _read_holder(lock) if os.path.exists(lock) else {}
    if holder.get("token") != token:
        raise LeaseLost(f"the sweep that started this task no longer holds {lock!r} (now: "
                        f"{describe(holder) if holder else 'nobody'}); the task wrote nothing.")


def holder(store: str) -> dict:
    """What the writer holding the store's lock recorded; empty when nobody holds it."""
    lock = lock_path(store)
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return {}
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_holder(fd) or {"host": "?", "pid": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return {}
    finally:
        os.close(fd)
