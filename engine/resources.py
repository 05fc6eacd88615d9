"""Files the engine ships beside its code: the grammar, the built-in mappings, the starter config.

In a checkout they live at the top of the repository (``grammar/``, ``mappings/``,
``config.example.yaml``); the wheel carries the same names under ``engine/_data/``
(pyproject.toml, ``force-include``). One lookup for both, so an installed engine and a checkout
find the same files. A leaf module: it imports nothing from the engine, so every layer may use it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(name: str) -> Path:
    """The shipped file or folder `name` (``grammar/lql.lark``, ``mappings``): inside an installed
    wheel, else in the checkout."""
    packaged = resources.files("engine").joinpath(f"_data/{name}")
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / name
