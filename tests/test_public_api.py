"""The public API is exactly what `engine.__all__` names (docs/python-api.md), and importing a
part of the engine loads only what that part needs."""

from __future__ import annotations

import subprocess
import sys

import engine


def test_all_is_sorted_and_matches_the_public_namespace() -> None:
    assert engine.__all__ == sorted(engine.__all__)
    for name in engine.__all__:  # each loads on first use
        assert getattr(engine, name).__name__ == name
    public = {name for name in vars(engine) if not name.startswith("_")}
    submodules = {name for name, value in vars(engine).items() if type(value).__name__ == "module"}
    assert public - submodules == set(engine.__all__)
    assert set(engine.__all__) <= set(dir(engine))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        engine.Nothing  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "Nothing" in str(exc)
    else:
        raise AssertionError("engine.Nothing resolved")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(*sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_command_line_loads_no_facade_until_a_command_needs_it() -> None:
    # `engine validate`, `eval`, `schema` and `--help` check config files and expressions:
    # none of them needs the store, a database driver, the transport or the HTTP server.
    heavy = {"engine.engine", "engine.program", "engine.store", "engine.transport",
             "engine.server", "psycopg", "nats", "uvicorn", "starlette"}
    assert not heavy & _loaded_after("import engine.cli.main")
    assert {"engine.engine", "engine.store"} <= _loaded_after("import engine; engine.Engine")


def test_a_daemon_on_the_embedded_store_never_loads_the_postgresql_driver() -> None:
    loaded = _loaded_after(
        "import engine.server.serve\n"
        "from engine.config.model import StorageSpec\n"
        "from engine.store import open_store\n"
        "import tempfile, os\n"
        "path = os.path.join(tempfile.mkdtemp(), 'engine.db')\n"
        "open_store(StorageSpec(path=path)).close()")
    assert "engine.store.sqlite" in loaded
    assert not {"psycopg", "engine.store.postgres"} & loaded
