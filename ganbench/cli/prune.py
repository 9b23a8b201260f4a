"""The ``ganbench prune`` and ``ganbench rm`` commands: remove runs from a store.

``prune --stale`` removes the runs made by other plugin versions or sources than those
installed (``ganbench.identity``): the ones set aside in ``<store>/.stale/`` and any still
in place. ``rm RUN_ID...`` removes the runs named (or set-aside folders, as ``results
--stale`` names them: ``.stale/<run_id>-<time>``). Both take ``--dry-run``, which lists what
would go and removes nothing. A run another process holds is never removed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ganbench.cli.common import STORE_OPTION, Command, _store
from ganbench.errors import GanbenchError

DRY_RUN = click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _describe(folder: Path) -> str:
    """``generator/discriminator/loss on dataset, seed N (status)``: a run folder in words."""
    from ganbench.store import CONFIG, RECORD, read_json

    try:
        c = read_json(folder / CONFIG)
        text = (f"{c.get('generator')}/{c.get('discriminator')}/{c.get('loss')} on "
                f"{c.get('dataset')}, seed {c.get('seed')}")
    except (OSError, ValueError, AttributeError):
        text = "no readable config"
    try:
        return f"{text} ({read_json(folder / RECORD).get('status')})"
    except (OSError, ValueError, AttributeError):
        return f"{text} (no readable record)"


def _set_aside_folder(root: Path, name: str) -> Path | None:
    """The folder ``.stale/NAME`` names, if it is one (never a path elsewhere)."""
    rest = name.removeprefix(f"{root.name}/")
    if rest == name or not rest or "/" in rest or rest.startswith("."):
        return None
    return root / rest if (root / rest).is_dir() else None


@click.command("prune", cls=Command)
@click.option("--stale", is_flag=True,
              help="The runs made by other plugin versions or sources than those installed: "
                   "set aside in .stale/, or still in place.")
@DRY_RUN
@STORE_OPTION
def prune_command(stale, dry_run, store) -> None:
    """Remove stale runs from the store (--dry-run: list them)."""
    from ganbench.identity import (
        STALE_DIR,
        moved_aside,
        remove,
        stale_note,
        stale_reasons,
        stored_record,
    )
    from ganbench.store import RunLocked

    if not stale:
        raise GanbenchError("say what to prune: --stale (runs made by other plugin versions or "
                            "sources); ganbench rm RUN_ID... removes the runs you name")
    st = _store(store, must_exist=True)
    verb = "would remove" if dry_run else "removed"
    count, size, kept = 0, 0, []
    for folder in moved_aside(st):
        note, n = stale_note(folder), _size(folder)
        line = (f"{verb} {STALE_DIR}/{folder.name}  {note.get('run_id')}  {_describe(folder)}: "
                f"{'; '.join(note.get('reasons') or [])}")
        if not dry_run:
            shutil.rmtree(folder)
        click.echo(line)
        count, size = count + 1, size + n
    for run_id in st.run_ids():
        reasons = stale_reasons(stored_record(st, run_id))
        if not reasons:
            continue
        folder = st.run_dir(run_id)
        line, n = f"{run_id}  {_describe(folder)}: {'; '.join(reasons)}", _size(folder)
        if st.is_locked(run_id):
            kept.append(run_id)
            click.echo(f"kept {line} (held by another process)")
            continue
        try:
            if not dry_run and remove(st, run_id, only_if_stale=True) is None:
                click.echo(f"kept {run_id}: current by the time it was locked (trained afresh "
                           f"by another process)")
                continue
        except RunLocked:
            kept.append(run_id)
            click.echo(f"kept {line} (held by another process)")
            continue
        click.echo(f"{verb} {line}")
        count, size = count + 1, size + n
    click.echo(f"{count} stale run(s) {'would be removed' if dry_run else 'removed'} "
               f"({_mb(size)}) from {st.root}" + (f"; {len(kept)} kept, held by another "
                                                  f"process" if kept else ""))
    if kept:
        sys.exit(1)


@click.command("rm", cls=Command)
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID...")
@DRY_RUN
@STORE_OPTION
def rm_command(run_ids, dry_run, store) -> None:
    """Remove runs from the store: run ids, or set-aside folders (.stale/NAME, as `ganbench
    results --stale` shows them). Nothing is removed if one is unknown or held by another
    process."""
    from ganbench.identity import STALE_DIR, remove

    st = _store(store, must_exist=True)
    known = set(st.run_ids())
    names = list(dict.fromkeys(run_ids))
    aside = {n: _set_aside_folder(st.root / STALE_DIR, n) for n in names if n not in known}
    unknown = [n for n, folder in aside.items() if folder is None]
    if unknown:
        raise GanbenchError(f"no run {', '.join(map(repr, unknown))} in {st.root}; nothing "
                            f"removed (ganbench results --stale lists the runs)")
    held = [n for n in names if n in known and st.is_locked(n)]
    if held:
        raise GanbenchError(f"run {', '.join(held)} is being trained by another process; "
                            f"nothing removed")
    verb, size = "would remove" if dry_run else "removed", 0
    for name in names:
        folder = aside.get(name) or st.run_dir(name)
        line, n = f"{name}  {_describe(folder)}", _size(folder)
        if not dry_run:
            if name in known:
                remove(st, name)
            else:
                shutil.rmtree(folder)
        click.echo(f"{verb} {line}")
        size += n
    click.echo(f"{len(names)} run(s) {'would be removed' if dry_run else 'removed'} "
               f"({_mb(size)}) from {st.root}")
