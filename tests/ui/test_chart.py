"""The audience chart (docs/console.md): quiet days keep the size, and the SVG escapes what it
draws."""

from __future__ import annotations

from datetime import date

from engine.ui.chart import Day, days, svg


def test_quiet_days_keep_the_size_the_day_before_ended_with() -> None:
    history = [
        {"day": "2026-03-02", "size": 5, "entered": 5, "exited": 0},
        {"day": "2026-03-04", "size": 4, "entered": 1, "exited": 2},
    ]
    series = days(history, date(2026, 3, 5), 5)
    assert series == [
        Day(date(2026, 3, 1), 0, 0, 0),
        Day(date(2026, 3, 2), 5, 5, 0),
        Day(date(2026, 3, 3), 5, 0, 0),
        Day(date(2026, 3, 4), 4, 1, 2),
        Day(date(2026, 3, 5), 4, 0, 0),
    ]


def test_a_span_before_the_first_change_starts_from_the_size_before_it() -> None:
    history = [{"day": "2026-03-02", "size": 7, "entered": 1, "exited": 0}]
    assert days(history, date(2026, 3, 2), 2)[0] == Day(date(2026, 3, 1), 6, 0, 0)
    assert days([], date(2026, 3, 2), 3) == [
        Day(date(2026, 2, 28), 0, 0, 0),
        Day(date(2026, 3, 1), 0, 0, 0),
        Day(date(2026, 3, 2), 0, 0, 0),
    ]


def test_the_svg_draws_a_line_and_a_bar_per_move_and_escapes_names() -> None:
    series = [Day(date(2026, 3, 1), 2, 2, 0), Day(date(2026, 3, 2), 1, 0, 1)]
    drawn = svg("<vip>&", series)
    assert drawn.startswith("<svg") and drawn.endswith("</svg>")
    assert "<vip>" not in drawn and "&lt;vip&gt;&amp;" in drawn
    assert drawn.count('class="enter"') == 1 and drawn.count('class="exit"') == 1
    assert 'role="img"' in drawn and "<polyline" in drawn
