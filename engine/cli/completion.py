"""Shell completion: ``engine completion bash|zsh|fish`` prints a script generated from the
argument parser itself (by shtab), so a new command or option completes without anyone editing
a script; names that live in the config (streams, audiences, export jobs) complete by calling
the hidden ``engine complete-names KIND``, which reads the config of the current folder.
"""

from __future__ import annotations

import argparse
import sys

import shtab

from engine.cli.common import (
    EXIT_OK,
    UsageError,
    config_overrides,
    resolve_config_path,
)
from engine.cli.main import build_parser
from engine.config.loader import read_settings
from engine.errors import EngineError

SHELLS = ("bash", "zsh", "fish")
NAME_KINDS = ("stream", "audience", "job")

# Which arguments complete which names, by (command path, dest); `None` matches any command.
_NAMES_BY_DEST = {
    (None, "stream"): "stream",
    (("audience", "members"), "name"): "audience",
    (("export",), "job"): "job",
}
_FILES_BY_DEST = {
    "config": shtab.FILE,
    "paths": shtab.FILE,
    "files": shtab.FILE,
    "dir": shtab.DIRECTORY,
    "allow_paths": shtab.DIRECTORY,
}

_PREAMBLE = {
    "bash": "\n".join(
        f'_engine_{kind}s() {{ compgen -W "$(engine complete-names {kind} 2>/dev/null)" -- "$1"; }}'
        for kind in NAME_KINDS
    ),
    "zsh": "\n".join(
        f'_engine_{kind}s() {{ local -a names; names=(${{(f)"$(engine complete-names {kind} '
        f'2>/dev/null)"}}); compadd -a names; }}'
        for kind in NAME_KINDS
    ),
    "fish": "",
}


def _names_action(kind: str) -> dict[str, str]:
    return {
        "bash": f"_engine_{kind}s",
        "zsh": f"_engine_{kind}s",
        "fish": f"(engine complete-names {kind} 2>/dev/null)",
    }


def _annotate(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Tell shtab what each argument completes to: files, folders, or config names."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _annotate(sub, (*path, name))
            continue
        kind = _NAMES_BY_DEST.get((None, action.dest))
        for (prefix, dest), named in _NAMES_BY_DEST.items():
            if prefix is not None and dest == action.dest and path[: len(prefix)] == prefix:
                kind = named
        if kind is not None:
            action.complete = _names_action(kind)  # type: ignore[attr-defined]
        elif action.dest in _FILES_BY_DEST:
            action.complete = _FILES_BY_DEST[action.dest]  # type: ignore[attr-defined]


def completion_script(shell: str) -> str:
    """The completion script of `engine` for `shell`."""
    if shell not in SHELLS:
        raise UsageError(f"no completion for {shell!r}; one of {', '.join(SHELLS)}")
    parser = build_parser()
    _annotate(parser)
    script: str = shtab.complete(parser, shell=shell, preamble=_PREAMBLE[shell])
    return script if script.endswith("\n") else script + "\n"


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion_script(args.shell))
    return EXIT_OK


def config_names(args: argparse.Namespace, kind: str) -> list[str]:
    """The names of `kind` in the config the command line names; none when there is no
    config, or it cannot be read: a completion must never print an error into the prompt."""
    try:
        settings, _ = read_settings(
            resolve_config_path(args),
            overrides=config_overrides(args),
            allow_paths=args.allow_paths,
        )
    except (UsageError, EngineError, OSError):
        return []
    if kind == "stream":
        return [s.name for s in settings.streams]
    if kind == "audience":
        return [a.name for a in settings.audiences]
    return [e.name for e in settings.exports]


def cmd_complete_names(args: argparse.Namespace) -> int:
    for name in config_names(args, args.kind):
        print(name)
    return EXIT_OK
