"""``engine serve``: the daemon's command, in a module of its own so that no other command
loads the HTTP server."""

from __future__ import annotations

import argparse
import os

from engine.cli.common import config_overrides, resolve_config_path
from engine.config.loader import ALLOW_PATHS_ENV
from engine.server.serve import serve


def cmd_serve(args: argparse.Namespace) -> int:
    if args.allow_paths:  # the daemon loads the config again (processor, reload): all read this
        os.environ[ALLOW_PATHS_ENV] = os.pathsep.join(
            [*args.allow_paths, *filter(None, [os.environ.get(ALLOW_PATHS_ENV)])])
    return serve(str(resolve_config_path(args)), config_overrides(args), args.listen_fd,
                 args.role)
