"""The public API is exactly what `engine.__all__` names (docs/python-api.md)."""

from __future__ import annotations

import engine


def test_all_is_sorted_and_matches_the_public_namespace() -> None:
    assert engine.__all__ == sorted(engine.__all__)
    public = {name for name in vars(engine) if not name.startswith("_")}
    submodules = {name for name, value in vars(engine).items() if type(value).__name__ == "module"}
    assert public - submodules == set(engine.__all__)
