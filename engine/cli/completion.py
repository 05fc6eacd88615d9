"""Shell completion: ``engine completion bash|zsh|fish`` prints a script generated from the
argument parser itself (by shtab), so a new command or option completes without anyone editing
a script; names that live in the config (streams, audiences, export jobs) complete by calling
the hidden ``engine complete-names KIND``, which reads the config the command line names
(its `--config` and `--allow-path` are passed on), else the one of the current folder.
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

# The options that choose the config, forwarded from the command line being completed to
# `engine complete-names`, so that names come from the config the command will read.
# (`--set` is not: a value holding "=" does not survive the shells' word breaking.)
CONFIG_OPTIONS = ("--config", "--allow-path")
_BASH_ARGS = r"""_engine_config_args() {
    _engine_cfg=()
    local i word value
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            @ALTERNATIVES@) ;;
            @ASSIGNED@) value="${word#*=}"; _engine_cfg+=("${word%%=*}" "${value/#\~/$HOME}")
                continue ;;
            *) continue ;;
        esac
        value="${COMP_WORDS[i+1]}"
        if [[ "$value" == "=" ]]; then  # `--config=PATH`: bash breaks words at "="
            ((i++)); value="${COMP_WORDS[i+1]}"
        fi
        ((i++))
        _engine_cfg+=("$word" "${value/#\~/$HOME}")
    done
}"""
_ZSH_ARGS = r"""_engine_config_args() {
    _engine_cfg=()
    local i word
    for ((i = 2; i < CURRENT; i++)); do
        word="${words[i]}"
        case "$word" in
            (@ALTERNATIVES@) _engine_cfg+=("$word" "${${(Q)words[i+1]}/#\~/$HOME}"); ((i++)) ;;
            (@ASSIGNED@) _engine_cfg+=("${word%%=*}" "${${(Q)word#*=}/#\~/$HOME}") ;;
        esac
    done
}"""
_FISH_ARGS = r"""function __engine_config_args
    set -l tokens (commandline -opc)
    set -l i 2
    while test $i -le (count $tokens)
        set -l word $tokens[$i]
        if contains -- $word @LIST@; and test $i -lt (count $tokens)
            set i (math $i + 1)
            echo $word; echo $tokens[$i]
        else if string match -q -r -- '^(@ALTERNATIVES@)=' $word
            string split -m 1 = -- $word
        end
        set i (math $i + 1)
    end
end"""


def _script(template: str) -> str:
    """A shell function of the preamble, with the config options written in."""
    return (template.replace("@ALTERNATIVES@", "|".join(CONFIG_OPTIONS))
            .replace("@ASSIGNED@", "|".join(f"{o}=*" for o in CONFIG_OPTIONS))
            .replace("@LIST@", " ".join(CONFIG_OPTIONS)))


_PREAMBLE = {
    "bash": "\n".join([_script(_BASH_ARGS), *(
        f'_engine_{kind}s() {{ _engine_config_args; compgen -W "$(engine complete-names '
        f'"${{_engine_cfg[@]}}" {kind} 2>/dev/null)" -- "$1"; }}'
        for kind in NAME_KINDS)]),
    "zsh": "\n".join([_script(_ZSH_ARGS), *(
        f'_engine_{kind}s() {{ local -a names _engine_cfg; _engine_config_args; '
        f'names=(${{(f)"$(engine complete-names "${{_engine_cfg[@]}}" {kind} '
        f'2>/dev/null)"}}); compadd -a names; }}'
        for kind in NAME_KINDS)]),
    "fish": _script(_FISH_ARGS),
}


def _names_action(kind: str) -> dict[str, str]:
    return {
        "bash": f"_engine_{kind}s",
        "zsh": f"_engine_{kind}s",
        "fish": f"(engine complete-names (__engine_config_args) {kind} 2>/dev/null)",
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
