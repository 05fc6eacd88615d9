"""The commands of ``engine`` and their arguments; each command's module loads only when it
runs.

Parsing the command line needs every command's arguments but none of their work: ``engine
eval`` should not load the HTTP server, the export runner or its HTTP client. So the arguments
live here, and a command is a `_lazy` reference to its function in `engine.cli.pipeline`,
`engine.cli.daemon`, `engine.cli.audiences`, `engine.cli.exports`, `engine.cli.setup` or
`engine.cli.completion`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

from engine.cli.common import DEFAULT_CREDENTIAL, DEFAULT_PORT
from engine.config.report import FORMATS

Command = Callable[[argparse.Namespace], int]
AddArguments = Callable[[argparse.ArgumentParser], None]


def _lazy(module: str, name: str) -> Command:
    """The command `name` of `module`, loaded when it runs."""

    def run(args: argparse.Namespace) -> int:
        command: Command = getattr(importlib.import_module(module), name)
        return command(args)

    return run


def register_setup(sub: Any, add_config_arguments: AddArguments) -> None:
    """Commands that set up where the engine runs: a starter config, shell completion."""
    p = sub.add_parser("init", help="write a working config.yaml and the mappings to edit",
                       description="Write a working config.yaml into DIR (default: here) and "
                                   "copy the built-in mappings beside it, for editing; refuse "
                                   "to overwrite existing files unless --force.")
    p.add_argument("dir", metavar="DIR", nargs="?", default=".",
                   help="the folder to write into, made when missing (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(run=_lazy("engine.cli.setup", "cmd_init"))

    p = sub.add_parser("completion", help="print the shell completion script",
                       description="Print the completion script of `engine` for SHELL, e.g. "
                                   "`source <(engine completion bash)` (docs/cli.md).")
    p.add_argument("shell", metavar="SHELL", choices=("bash", "zsh", "fish"),
                   help="bash, zsh or fish")
    p.set_defaults(run=_lazy("engine.cli.completion", "cmd_completion"))

    # No help: hidden from `engine --help` and from completion; the scripts call it.
    p = sub.add_parser("complete-names")
    add_config_arguments(p)
    p.add_argument("kind", choices=("stream", "audience", "job"))
    p.set_defaults(run=_lazy("engine.cli.completion", "cmd_complete_names"))


def register_pipeline(sub: Any, add_config_arguments: AddArguments) -> None:
    """Add the pipeline commands to the ``engine`` parser."""
    p = sub.add_parser("ingest", help="push events from files through the pipeline",
                       description="Log and apply events from files (.json object or array, "
                                   ".jsonl/.ndjson, - for stdin). Exit 1 if any were rejected.")
    add_config_arguments(p)
    p.add_argument("--stream", required=True, help="the stream the events belong to")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decoder processes (default: one per core; 0: none)")
    p.add_argument("--batch-size", type=int, default=5000, metavar="N",
                   help="events per logged and applied batch")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress on stderr (auto: only on a terminal)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_ingest"))

    p = sub.add_parser("map", help="dry run: derived events and field updates for one event")
    add_config_arguments(p)
    p.add_argument("--stream", required=True)
    p.add_argument("--event", required=True, metavar="JSON|@FILE")
    p.add_argument("--at", metavar="ISO", help="receive time (default: now)")
    p.add_argument("--show-code", action="store_true", help="print the generated Python")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_map"))

    prof = sub.add_parser("profile", help="read profiles")
    psub = prof.add_subparsers(dest="profile_command", required=True, metavar="COMMAND")
    p = psub.add_parser("get", help="print the profile holding an identity")
    add_config_arguments(p)
    p.add_argument("identity", metavar="FIELD=VALUE")
    p.add_argument("--explain", action="store_true",
                   help="show, per field, the event and rule that set it")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_profile_get"))
    p = psub.add_parser("export", help="every profile, one JSON object per line")
    add_config_arguments(p)
    p.add_argument("--format", choices=("jsonl",), default="jsonl")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_profile_export"))

    p = sub.add_parser("test", help="run the test cases embedded in config files")
    add_config_arguments(p)
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="how to print the results (default: text); github, sarif and gitlab "
                        "report failed cases as T001 at the case, beside config errors")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_test"))

    p = sub.add_parser("replay", help="rebuild profiles from the event log")
    add_config_arguments(p)
    p.add_argument("--stream", help="replay only this stream's events")
    p.add_argument("--since", metavar="ISO", help="replay only events from this time on")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_replay"))

    p = sub.add_parser("errors", help="list the _errors dead letters",
                       description="List logged events that a transform or mapping failed on "
                                   "(the _errors dead-letter stream), oldest first. After a "
                                   "config fix, --replay rebuilds profiles from the log with "
                                   "the new config and keeps only what still fails.")
    add_config_arguments(p)
    p.add_argument("--stream", help="only events of this stream")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (default 100)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--replay", action="store_true",
                   help="replay the log with the current config first (needs the store: "
                        "stop the daemon)")
    p.set_defaults(run=_lazy("engine.cli.pipeline", "cmd_errors"))

    p = sub.add_parser("status", help="collected, applied and backlog per stream; dead "
                       "letters, export jobs, live nodes",
                       description="Where events stand, on either back end "
                                   "(docs/scale-out.md). With --wait, wait until the backlog "
                                   "is 0 (exit 0) or --timeout passed (exit 1).")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--wait", action="store_true", help="wait until the backlog is 0")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="with --wait: give up after S seconds (default 60)")
    p.set_defaults(run=_lazy("engine.cli.status", "cmd_status"))

    p = sub.add_parser("serve", help="run the daemon: collect API, processing, metrics",
                       description="Run the HTTP daemon (docs/http.md) on server.listen. "
                                   "SIGTERM or SIGINT stops it gracefully; SIGHUP reloads "
                                   "the config.")
    add_config_arguments(p)
    p.add_argument("--listen-fd", type=int, metavar="N",
                   help="serve on the listening TCP socket inherited as file descriptor N "
                        "instead of binding server.listen (for supervisors and tests)")
    p.add_argument("--role", choices=("all", "collect", "process"), default="all",
                   help="collect: only the collect API; process: apply events, evaluate "
                        "audiences, run exports; all (default): both. collect and process "
                        "need transport.backend: nats (docs/scale-out.md)")
    p.set_defaults(run=_lazy("engine.cli.daemon", "cmd_serve"))


def register_audiences(sub: Any, add_config_arguments: AddArguments) -> None:
    """Add the audience commands to the ``engine`` parser."""
    aud = sub.add_parser("audience", help="audience sizes and members")
    asub = aud.add_subparsers(dest="audience_command", required=True, metavar="COMMAND")
    p = asub.add_parser("list", help="each audience with its number of members")
    add_config_arguments(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=_lazy("engine.cli.audiences", "cmd_audience_list"))
    p = asub.add_parser("members", help="the member profiles of an audience, one JSON per line")
    add_config_arguments(p)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--limit", type=int, metavar="N", help="at most N members")
    p.set_defaults(run=_lazy("engine.cli.audiences", "cmd_audience_members"))


def register_exports(sub: Any, add_config_arguments: AddArguments) -> None:
    """Add the export commands to the ``engine`` parser.

    `add_config_arguments` is taken for the same shape as the other command groups; the
    sandbox reads no config, so it does not use it."""
    p = sub.add_parser("sandbox", help="run a local stand-in for an export provider",
                       description="Run a local Customer.io Track API stand-in "
                                   "(docs/exports.md): it enforces the auth, endpoints and "
                                   "limits of the Track API, keeps the people it was sent, and "
                                   "lists every request at GET /_sandbox/requests. Ctrl+C "
                                   "stops it.")
    p.add_argument("provider", choices=("customerio",), help="the provider to stand in for")
    p.add_argument("--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N",
                   help=f"the port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--site-id", default=DEFAULT_CREDENTIAL, metavar="S",
                   help=f"the site id clients must send (default {DEFAULT_CREDENTIAL})")
    p.add_argument("--api-key", default=DEFAULT_CREDENTIAL, metavar="K",
                   help=f"the Track API key clients must send (default {DEFAULT_CREDENTIAL})")
    p.set_defaults(run=_lazy("engine.cli.exports", "cmd_sandbox"))

    exp = sub.add_parser("export", help="run export jobs")
    esub = exp.add_subparsers(dest="export_command", required=True, metavar="COMMAND")
    p = esub.add_parser("run", help="run one export job until its outbox is drained",
                        description="Apply the logged events, then send the job's outbox to "
                                    "its destination until it is empty (for cron and tests). "
                                    "Exit 1 when an item was refused for good or the job is "
                                    "paused. Stop the daemon first: it runs its jobs itself.")
    add_config_arguments(p)
    p.add_argument("job", metavar="JOB")
    p.add_argument("--existing-users", action="store_true",
                   help="queue every current member of the job's audience first (a backfill)")
    p.set_defaults(run=_lazy("engine.cli.exports", "cmd_export_run"))
    _register_export_operations(esub, add_config_arguments)


def _register_export_operations(esub: Any, add_config_arguments: AddArguments) -> None:
    """``engine export dead-letters|pause|resume``: operating a job beside the daemon."""
    p = esub.add_parser("dead-letters", help="list a job's dead letters; --replay sends them "
                        "again",
                        description="List the items of an export job that the destination "
                                    "refused for good, oldest first: what, for whom, when and "
                                    "why. With --replay, first put them all back in the "
                                    "outbox (after fixing the cause); the daemon, or "
                                    "`engine export run`, sends them.")
    add_config_arguments(p)
    p.add_argument("job", metavar="JOB")
    p.add_argument("--replay", action="store_true",
                   help="put the job's dead letters back in its outbox first")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (default 100)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=_lazy("engine.cli.exports", "cmd_export_dead_letters"))
    p = esub.add_parser("pause", help="stop a job sending until resumed; its outbox keeps "
                        "filling",
                        description="Pause an export job for the operator, in the store: "
                                    "every node stops sending it within a second, and it "
                                    "stays paused across restarts and reloads; its outbox "
                                    "keeps filling.")
    add_config_arguments(p)
    p.add_argument("job", metavar="JOB")
    p.set_defaults(run=_lazy("engine.cli.exports", "cmd_export_pause"))
    p = esub.add_parser("resume", help="lift the operator's pause; the backlog is sent",
                        description="Lift an operator's pause of an export job: the node "
                                    "running it sends its outbox again.")
    add_config_arguments(p)
    p.add_argument("job", metavar="JOB")
    p.set_defaults(run=_lazy("engine.cli.exports", "cmd_export_resume"))
