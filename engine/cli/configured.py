"""The compiled config a command runs: for the commands that drive the façade.

Apart from `engine.cli.common` so that the commands that only read or check config files
(`engine validate`, `engine eval`, `engine schema`, `--help`) never load the façade, the
store or a database driver: they answer in a fraction of the time.
"""

from __future__ import annotations

import argparse

from engine.cli.common import config_overrides, resolve_config_path
from engine.program import Config, load_config


def config_of(args: argparse.Namespace) -> Config:
    """The loaded and compiled config a command names with `--config` and `--set`."""
    return load_config(resolve_config_path(args), config_overrides(args),
                       allow_paths=args.allow_paths)
