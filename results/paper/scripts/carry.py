"""Carry an unfinished run across machines: copy its store folder (checkpoint, best generator,
selection history, losses, config, record) into the repository, and back into a new store,
so that a run that needs more core-hours than one session resumes exactly where it stopped
even when the machine (and its store) does not survive. Issue 22's simultaneous seed 2 needs
about nine core-hours; a session gives three.

    # at the end of a session: stop the run first (kill -INT PID: recorded interrupted)
    .venv/bin/python results/paper/scripts/carry.py save /work/runs/store results/paper/resume RUN_ID
    # on the next machine, before starting train_runs.py again
    .venv/bin/python results/paper/scripts/carry.py restore results/paper/resume /work/runs/store

`save` refuses a run that a process is still training (its folder is locked), since its files
could come from different moments; it replaces DEST's earlier contents, writing each file's
sha256 into DEST/MANIFEST.json (with the run's status and step, the store it came from, the
code version and the time). `restore` checks every file against the manifest and copies the
runs into the store; a run the store already holds is left alone when its files are the same,
and refused when they differ (the store's copy may be further along). Bad input: one line on
stderr, exit status 2, nothing written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = "MANIFEST.json"
SKIP = {".lock"}  # the lock belongs to the process that trained it, not to the run


class CarryError(Exception):
    """Bad input: reported as one line, exit status 2."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    """The run's own files: not its lock, not the temporary files of an atomic write."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name not in SKIP and not p.name.endswith(".tmp"))


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save(store_root: Path, dest: Path, run_ids: list[str]) -> dict:
    from ganbench.store import Store, read_json

    store = Store(store_root)
    if not store_root.is_dir():
        raise CarryError(f"no store at {store_root}")
    if not run_ids:
        raise CarryError("name the run(s) to carry")
    runs = {}
    for run_id in run_ids:
        folder = store.run_dir(run_id)
        if not (folder / "config.json").is_file():
            raise CarryError(f"the store {store_root} has no run {run_id}")
        if store.is_locked(run_id):
            raise CarryError(f"run {run_id} is still training (its folder is locked): stop it "
                             "first (kill -INT PID records it interrupted)")
        selection = folder / "selection.json"
        history = read_json(selection).get("history", []) if selection.is_file() else []
        runs[run_id] = {
            "status": store.status(run_id),
            "last_scored_step": history[-1]["step"] if history else None,
            "files": {p.name: _sha256(p) for p in _files(folder)},
        }
    manifest = {
        "saved": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "from_store": str(store_root.resolve()),
        "code": _commit(),
        "runs": runs,
    }
    # Write the new copy beside DEST, then swap it in: DEST is never half-written.
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        for run_id, entry in runs.items():
            (staging / run_id).mkdir()
            for name, digest in entry["files"].items():
                shutil.copy2(store.run_dir(run_id) / name, staging / run_id / name)
                if _sha256(staging / run_id / name) != digest:
                    raise CarryError(f"{run_id}/{name} changed while it was copied")
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
        staging.rename(dest)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def restore(src: Path, store_root: Path) -> list[tuple[str, str]]:
    """Copy every run of SRC's manifest into the store; (run id, what happened) for each."""
    path = src / MANIFEST
    if not path.is_file():
        raise CarryError(f"no {MANIFEST} in {src}: not a folder written by `carry.py save`")
    try:
        runs = json.loads(path.read_text())["runs"]
    except (ValueError, KeyError) as exc:
        raise CarryError(f"{path} is not a manifest written by `carry.py save` ({exc})") from exc
    for run_id, entry in runs.items():  # check everything before writing anything
        for name, digest in entry["files"].items():
            f = src / run_id / name
            if not f.is_file():
                raise CarryError(f"{f} is missing")
            if _sha256(f) != digest:
                raise CarryError(f"{f} does not match its sha256 in {path}")
        there = store_root / run_id
        if there.exists():
            theirs = {p.name: _sha256(p) for p in _files(there)}
            if theirs != entry["files"]:
                raise CarryError(f"the store already holds run {run_id} with other files (it may "
                                 "be further along); move it aside to restore this copy")
    done = []
    for run_id, entry in runs.items():
        there = store_root / run_id
        if there.exists():
            done.append((run_id, "already in the store, the same files"))
            continue
        store_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=store_root, prefix=f".{run_id}."))
        for name in entry["files"]:
            shutil.copy2(src / run_id / name, staging / name)
        staging.rename(there)
        done.append((run_id, f"restored ({entry['status']}, last scored step "
                             f"{entry['last_scored_step']})"))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="copy runs from a store into a folder of the repository")
    s.add_argument("store", type=Path)
    s.add_argument("dest", type=Path)
    s.add_argument("run_ids", nargs="+")
    r = sub.add_parser("restore", help="copy a saved folder's runs into a store")
    r.add_argument("src", type=Path)
    r.add_argument("store", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            manifest = save(args.store, args.dest, args.run_ids)
            for run_id, entry in manifest["runs"].items():
                size = sum((args.dest / run_id / n).stat().st_size for n in entry["files"])
                print(f"{run_id}: {entry['status']}, last scored step {entry['last_scored_step']}, "
                      f"{len(entry['files'])} files, {size / 1e6:.1f} MB -> {args.dest / run_id}")
        else:
            for run_id, what in restore(args.src, args.store):
                print(f"{run_id}: {what}")
    except CarryError as exc:
        print(f"carry.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
