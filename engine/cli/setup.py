"""``engine init``: a working config to start from, in a folder of the user's.

It copies what the engine ships (`engine.resources`): the example config as ``config.yaml``,
which the commands read first, and the built-in mappings beside it, which that config names by a
relative path, so the copies are the ones in use and can be edited. It writes nothing over an
existing file unless told to (``--force``): a starter must never clobber a user's work.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

from engine.cli.common import EXIT_OK
from engine.errors import EngineError
from engine.resources import data_path

CONFIG_NAME = "config.yaml"
MAPPINGS_DIR = "mappings"
NEXT_COMMANDS = ("engine validate", "engine test", "engine serve")


def starter_files() -> dict[str, Path]:
    """Each file `engine init` writes, by its path relative to the target folder, and the
    shipped file it copies."""
    files = {CONFIG_NAME: data_path("config.example.yaml")}
    mappings = data_path(MAPPINGS_DIR)
    for source in sorted(mappings.iterdir()):
        if source.is_file():
            files[f"{MAPPINGS_DIR}/{source.name}"] = source
    return files


def init(target: Path, *, force: bool = False) -> list[Path]:
    """Write the starter files into `target` (made when missing); the paths written."""
    files = starter_files()
    existing = [target / name for name in files if (target / name).exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise EngineError(
            f"init: will not overwrite {names} (use --force to replace "
            f"{'it' if len(existing) == 1 else 'them'})"
        )
    written = []
    for name, source in files.items():
        dest = target / name
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        except OSError as exc:
            raise EngineError(f"init: cannot write {dest}: {exc.strerror}") from exc
        written.append(dest)
    return written


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    written = init(target, force=args.force)
    for path in written:
        print(f"wrote {path}")
    print("\nnext:")
    if target.resolve() != Path.cwd().resolve():
        print(f"  cd {shlex.quote(str(target))}")
    for command in NEXT_COMMANDS:
        print(f"  {command}")
    sys.stdout.flush()
    return EXIT_OK
