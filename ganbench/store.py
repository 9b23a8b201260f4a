"""The store of runs: one folder per run id, written so that a killed process or several
concurrent writers lose nothing.

Every JSON file and checkpoint is written to a temporary file and renamed into place (atomic
on POSIX). A run folder is locked (``fcntl.flock``) while a process trains it, so two workers
never train the same run, and a lock that is no longer held marks an interrupted run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import GanbenchError

DEFAULT_STORE = "ganbench-store"
CONFIG = "config.json"
RECORD = "record.json"
CHECKPOINT = "checkpoint.pt"
BEST = "best_generator.pt"  # the generator chosen on the validation split (score.select;
# the EMA generator with train.ema); a checkpoint with train.ema also holds "generator_ema"
LOCK = ".lock"


def default_store() -> Path:
    return Path(os.environ.get("GANBENCH_STORE", DEFAULT_STORE))


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (os.umask can only
    be read by setting it, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode() -> int:
    """What open() would give a new file (mkstemp's temporary files are 0600)."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, _mode())
        finally:
            os.close(fd)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint, loaded with ``weights_only=True`` (no arbitrary code from pickles)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message may advise weights_only=False, which would run code from the
        # file: say what the file is not, never that.
        if "weights_only" in str(exc) or "Unpickler" in str(exc):
            why = "it holds Python objects other than tensors and plain values"
        else:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            why = f"torch.load cannot read it ({type(exc).__name__}{': ' + first if first else ''})"
        raise GanbenchError(f"{path} is not a ganbench checkpoint or exported generator: "
                            f"{why}") from exc


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def _same_file(f: Any, path: Path) -> bool:
    """Is the open file ``f`` still the file at ``path`` (not renamed away, not deleted)?"""
    try:
        return os.path.samestat(os.fstat(f.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


class RunLocked(GanbenchError):
    """Another process is training this run."""


class Store:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_store()

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def run_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def read_record(self, run_id: str) -> dict[str, Any] | None:
        path = self.run_dir(run_id) / RECORD
        if not path.exists():
            return None
        return read_json(path)

    def status(self, run_id: str) -> str | None:
        try:
            record = self.read_record(run_id)
        except (OSError, ValueError):
            return None
        if record is None:
            return None
        if record.get("status") == "running" and not self.is_locked(run_id):
            return "interrupted"
        return record.get("status")

    def is_locked(self, run_id: str) -> bool:
        path = self.run_dir(run_id) / LOCK
        try:
            f = open(path, "a") if path.exists() else None
        except FileNotFoundError:  # the folder was moved (set aside, removed) meanwhile
            f = None
        if f is None:
            return False
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return True
                raise
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    @contextlib.contextmanager
    def lock(self, run_id: str) -> Iterator[Path]:
        """Hold the run's folder for this process; RunLocked if another process holds it."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(folder / LOCK, "a")
        except FileNotFoundError as exc:  # moved by another process between the two calls
            raise RunLocked(f"run {run_id} was moved by another process; try again") from exc
        with handle as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise RunLocked(f"run {run_id} is being trained by another process") from exc
            if not _same_file(f, folder / LOCK):  # renamed away (set aside, removed) meanwhile
                fcntl.flock(f, fcntl.LOCK_UN)
                raise RunLocked(f"run {run_id} was moved by another process; try again")
            try:
                yield folder
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
