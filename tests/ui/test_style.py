"""The stylesheet's colours (docs/console.md): text readable at WCAG AA contrast (4.5:1), and
focus rings and field borders visible (3:1), computed from its CSS variables."""

from __future__ import annotations

import re
from importlib import resources

import pytest

# (foreground, background) by variable name: every pair the stylesheet puts text on
TEXT = [(fg, bg) for fg in ("fg", "muted", "accent", "bad", "good") for bg in ("bg", "card")] + [
    ("on-accent", "accent")
]
# the focus ring and a field's border against what surrounds them
SHAPES = [("focus", "bg"), ("focus", "card"), ("field", "bg"), ("field", "card")]


def _variables() -> dict[str, str]:
    css = resources.files("engine.ui").joinpath("static", "style.css").read_text()
    root = re.search(r":root\s*{([^}]*)}", css)
    assert root is not None
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", root.group(1)))


def _luminance(colour: str) -> float:
    """Relative luminance, as WCAG 2 defines it."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(("fg", "bg"), TEXT, ids=[f"{f}-on-{b}" for f, b in TEXT])
def test_text_colours_are_readable(fg: str, bg: str) -> None:
    colours = _variables()
    assert contrast(colours[fg], colours[bg]) >= 4.5


@pytest.mark.parametrize(("fg", "bg"), SHAPES, ids=[f"{f}-on-{b}" for f, b in SHAPES])
def test_focus_rings_and_field_borders_are_visible(fg: str, bg: str) -> None:
    colours = _variables()
    assert contrast(colours[fg], colours[bg]) >= 3.0
