"""parse_date and friends: every spelling of a date an event may carry, and relative dates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.lang.dates import parse_date, parse_date_in, parse_date_local, parse_layout, zone
from engine.lang.values import date_to_ms, format_date, ms_to_date, to_date

ANCHOR = 1396889935000  # 2014-04-07T16:58:55Z, a Monday


def iso(d: datetime | None) -> str | None:
    return None if d is None else format_date(d)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601 / RFC 3339 (the fast path)
        ("2014-04-07T16:58:55Z", "2014-04-07T16:58:55.000Z"),
        ("2014-04-07T16:58:55.123Z", "2014-04-07T16:58:55.123Z"),
        ("2014-04-07T16:58:55.123456789Z", "2014-04-07T16:58:55.123Z"),
        ("2014-04-07T16:58:55-07:00", "2014-04-07T23:58:55.000Z"),
        ("2014-04-07T16:58:55+0530", "2014-04-07T11:28:55.000Z"),
        ("2014-04-07T16:58:55", "2014-04-07T16:58:55.000Z"),
        ("2014-04-07T16:58", "2014-04-07T16:58:00.000Z"),
        ("2014-04-07 16:58:55", "2014-04-07T16:58:55.000Z"),
        ("2014-04-07", "2014-04-07T00:00:00.000Z"),
        ("  2014-04-07T16:58:55Z\n", "2014-04-07T16:58:55.000Z"),
        ("2019-05-29T08:41-04", "2019-05-29T12:41:00.000Z"),
        ("2017-07-19T03:21:51:897+0100", "2017-07-19T02:21:51.897Z"),
        # ISO-like with a zone name, AM/PM or Go's String() form
        ("2014-12-16 06:20:00 UTC", "2014-12-16T06:20:00.000Z"),
        ("2014-12-16 06:20:00 GMT", "2014-12-16T06:20:00.000Z"),
        ("2014-04-26 05:24:37 PM", "2014-04-26T17:24:37.000Z"),
        ("2014-04-26 13:13:43 +0800", "2014-04-26T05:13:43.000Z"),
        ("2014-04-26 13:13:43 +0800 +08", "2014-04-26T05:13:43.000Z"),
        ("2012-08-03 18:31:59.257000000 +0000 UTC", "2012-08-03T18:31:59.257Z"),
        ("2014-05-11 08:20:13,787", "2014-05-11T08:20:13.787Z"),
        ("2014-04", "2014-04-01T00:00:00.000Z"),
        # epochs and compact digits
        ("1396889935", "2014-04-07T16:58:55.000Z"),
        ("1396889935000", "2014-04-07T16:58:55.000Z"),
        ("1396889935123456", "2014-04-07T16:58:55.123Z"),
        ("1396889935123456789", "2014-04-07T16:58:55.123Z"),
        ("1396889935.5", "2014-04-07T16:58:55.500Z"),
        ("2014", "2014-01-01T00:00:00.000Z"),
        ("201404", "2014-04-01T00:00:00.000Z"),
        ("20140407", "2014-04-07T00:00:00.000Z"),
        ("201404071658", "2014-04-07T16:58:00.000Z"),
        ("20140407165855", "2014-04-07T16:58:55.000Z"),
        # month name first (dateparse)
        ("Apr 7, 2014 4:58:55 PM", "2014-04-07T16:58:55.000Z"),
        ("Apr 8, 2014", "2014-04-08T00:00:00.000Z"),
        ("May 8, 2009 5:57:51 PM", "2009-05-08T17:57:51.000Z"),
        ("September 17, 2012 10:10:09", "2012-09-17T10:10:09.000Z"),
        ("October 7th, 1970", "1970-10-07T00:00:00.000Z"),
        ("oct 7, 1970", "1970-10-07T00:00:00.000Z"),
        ("oct. 7, '70", "1970-10-07T00:00:00.000Z"),
        ("Sept 3, 2014 8:00 am", "2014-09-03T08:00:00.000Z"),
        ("Fri Jul 03 2015 18:04:07 GMT+0100 (GMT Daylight Time)", "2015-07-03T17:04:07.000Z"),
        # day first with a month name: RFC 1123, RFC 850, RFC 2822 …
        ("Mon, 07 Apr 2014 16:58:55 GMT", "2014-04-07T16:58:55.000Z"),
        ("Mon, 07 Apr 2014 16:58:55 -0700", "2014-04-07T23:58:55.000Z"),
        ("Monday, 02-Jan-06 15:04:05 MST", "2006-01-02T22:04:05.000Z"),
        ("Tue, 11 Jul 2017 16:28:13 +0200 (CEST)", "2017-07-11T14:28:13.000Z"),
        ("Thu, 4 Jan 2018 17:53:36 +0000", "2018-01-04T17:53:36.000Z"),
        ("Mon 30 Sep 2018 09:09:09 PM UTC", "2018-09-30T21:09:09.000Z"),
        ("12 Feb 2006, 19:17", "2006-02-12T19:17:00.000Z"),
        ("14 May 2019 19:11:40.164", "2019-05-14T19:11:40.164Z"),
        ("7 oct 70", "1970-10-07T00:00:00.000Z"),
        ("1 July 2013", "2013-07-01T00:00:00.000Z"),
        # ANSI C, Unix date, Ruby
        ("Mon Jan  2 15:04:05 2006", "2006-01-02T15:04:05.000Z"),
        ("Mon Jan  2 15:04:05 MST 2006", "2006-01-02T22:04:05.000Z"),
        ("Mon Jan 02 15:04:05 -0700 2006", "2006-01-02T22:04:05.000Z"),
        ("Mon Aug 10 15:44:11 UTC+0100 2015", "2015-08-10T14:44:11.000Z"),
        # numeric with separators: month first, always
        ("10/13/2014", "2014-10-13T00:00:00.000Z"),
        ("4/7/14", "2014-04-07T00:00:00.000Z"),
        ("01/02/1956", "1956-01-02T00:00:00.000Z"),
        ("08/21/71", "1971-08-21T00:00:00.000Z"),
        ("4/8/2014 22:05", "2014-04-08T22:05:00.000Z"),
        ("8/8/1965 12:00:00 AM", "1965-08-08T00:00:00.000Z"),
        ("8/8/1965 12:00:00 PM", "1965-08-08T12:00:00.000Z"),
        ("8/8/1965 01:00 PM", "1965-08-08T13:00:00.000Z"),
        ("03/19/2012 10:11:59.3186369", "2012-03-19T10:11:59.318Z"),
        ("3.31.2014", "2014-03-31T00:00:00.000Z"),
        ("04-07-2014", "2014-04-07T00:00:00.000Z"),
        ("2014/04/07", "2014-04-07T00:00:00.000Z"),
        ("2014/4/8 22:05", "2014-04-08T22:05:00.000Z"),
        ("2012/03/19 10:11:59", "2012-03-19T10:11:59.000Z"),
        ("2014.03.30", "2014-03-30T00:00:00.000Z"),
        ("2014.03", "2014-03-01T00:00:00.000Z"),
        ("2013-Feb-03", "2013-02-03T00:00:00.000Z"),
        ("06/Jan/2008:15:04:05 -0700", "2008-01-06T22:04:05.000Z"),
        ("06/Jan/2008 15:04:05 -0700", "2008-01-06T22:04:05.000Z"),
        ("2014年04月08日", "2014-04-08T00:00:00.000Z"),
    ],
)
def test_parse_date_formats(text: str, expected: str) -> None:
    d = parse_date(text)
    assert iso(d) == expected
    assert d is not None and d.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "foo",
        "not a date",
        "13/10/2014",  # month first, always: no silent day-first swap
        "2014-13-01",
        "2014-02-30",
        "Apr 31, 2014",
        "Foo 7, 2014",
        "Funday, 07 Apr 2014 16:58:55 GMT",
        "2014-04-07T25:00:00",
        "2014-04-07 16:58:55 XYZ",  # unknown zone abbreviations are not read as UTC
        "2014-04-07 16:58:55 +25:00",
        "4/7/5",
        "4/7/195",
        "13:00 PM 4/7/2014",
        "8/8/1965 13:00:00 PM",
        "1234567",
        "12345678901",
        "99999999999999999999",
        "1e10",
        "-5",
        "now-",
        "now-30x",
        "now - 1 fortnight",
        "nowhere",
        "2014-04-07" * 20,
        "\x00",
    ],
)
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text, ANCHOR) is None
    assert parse_date_local(text, ANCHOR) is None


@pytest.mark.parametrize("value", [None, 1396889935, b"2014-04-07", ["2014-04-07"]])
def test_parse_date_non_string_is_none(value: object) -> None:
    assert parse_date(value) is None  # type: ignore[arg-type]
    assert parse_date_local(value) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", "2014-04-07T16:58:55.000Z"),
        ("NOW", "2014-04-07T16:58:55.000Z"),
        ("now-30d", "2014-03-08T16:58:55.000Z"),
        ("now+2h", "2014-04-07T18:58:55.000Z"),
        ("now-90s", "2014-04-07T16:57:25.000Z"),
        ("now-15m", "2014-04-07T16:43:55.000Z"),
        ("now-1w", "2014-03-31T16:58:55.000Z"),
        ("now-1M", "2014-03-07T16:58:55.000Z"),
        ("now+1y", "2015-04-07T16:58:55.000Z"),
        ("now-2y", "2012-04-07T16:58:55.000Z"),
        ("now-1d+2h", "2014-04-06T18:58:55.000Z"),
        ("now - 1d", "2014-04-06T16:58:55.000Z"),
        (" now-1d ", "2014-04-06T16:58:55.000Z"),
        ("now-0d", "2014-04-07T16:58:55.000Z"),
    ],
)
def test_relative_dates_use_the_anchor(text: str, expected: str) -> None:
    assert iso(parse_date(text, ANCHOR)) == expected


def test_relative_months_clamp_to_the_end_of_the_month() -> None:
    march_31 = date_to_ms(datetime(2014, 3, 31, 12, tzinfo=UTC))
    assert iso(parse_date("now-1M", march_31)) == "2014-02-28T12:00:00.000Z"
    leap_day = date_to_ms(datetime(2016, 2, 29, tzinfo=UTC))
    assert iso(parse_date("now+1y", leap_day)) == "2017-02-28T00:00:00.000Z"
    assert iso(parse_date("now-13M", march_31)) == "2013-02-28T12:00:00.000Z"


def test_relative_dates_out_of_range_are_none() -> None:
    assert parse_date("now-9999y", ANCHOR) is None
    assert parse_date("now+99999999999999999999d", ANCHOR) is None


def test_relative_without_anchor_uses_the_wall_clock() -> None:
    before = time.time_ns() // 1_000_000
    d = parse_date("now")
    after = time.time_ns() // 1_000_000
    assert d is not None and before <= date_to_ms(d) <= after
    d = parse_date("now-1h")
    assert d is not None and abs(date_to_ms(d) - (before - 3_600_000)) < 60_000


def test_precision_is_truncated_to_milliseconds() -> None:
    d = parse_date("2014-04-07T16:58:55.123999Z")
    assert d is not None and d.microsecond == 123_000
    d = parse_date("2014-04-07T16:58:55.9999-01:00")
    assert d is not None and d.microsecond == 999_000 and d.hour == 17


def test_epoch_digits_agree_with_numeric_epochs() -> None:
    assert parse_date("1396889935") == to_date(1396889935)
    assert parse_date("1396889935000") == to_date(1396889935000)
    # fromisoformat would read these as basic-format ISO (2014-04-07T16:00, 8796-09-30T22:00)
    assert parse_date("2014040716") == ms_to_date(2014040716000)
    assert parse_date("8796093022200") == ms_to_date(8796093022200)


def test_to_date_parses_strings_with_the_anchor() -> None:
    assert iso(to_date("now-1d", ANCHOR)) == "2014-04-06T16:58:55.000Z"
    assert iso(to_date(["Apr 8, 2014"], ANCHOR)) == "2014-04-08T00:00:00.000Z"


def test_years_before_1000_format_with_four_digits() -> None:
    assert format_date(datetime(999, 12, 31, tzinfo=UTC)) == "0999-12-31T00:00:00.000Z"
    assert iso(parse_date("0999-12-31T00:00:00.000Z")) == "0999-12-31T00:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "hour", "offset_hours"),
    [
        ("2014-04-07T16:58:55-07:00", 16, -7),
        ("2014-04-07T16:58:55+05:30", 16, 5.5),
        ("Mon, 07 Apr 2014 16:58:55 -0700", 16, -7),
        ("Tue, 11 Jul 2017 16:28:13 +0200 (CEST)", 16, 2),
        ("Mon Jan  2 15:04:05 MST 2006", 15, -7),
        ("2014-04-07T16:58:55Z", 16, 0),
        ("2014-04-07 16:58:55", 16, 0),  # zone-less: UTC
        ("1396889935000", 16, 0),
    ],
)
def test_parse_date_local_keeps_the_offset(text: str, hour: int, offset_hours: float) -> None:
    d = parse_date_local(text)
    assert d is not None
    assert d.hour == hour
    assert d.utcoffset() == timedelta(hours=offset_hours)
    assert d == parse_date(text)  # the same instant


def test_parse_date_local_relative_is_utc() -> None:
    d = parse_date_local("now-1d", ANCHOR)
    assert d is not None and d.tzinfo is UTC and d.hour == 16


@pytest.mark.parametrize(
    ("text", "zone_name", "expected"),
    [
        ("2024-11-15", "America/Los_Angeles", "2024-11-15T08:00:00.000Z"),
        ("2024-07-01 09:30", "America/Los_Angeles", "2024-07-01T16:30:00.000Z"),  # PDT
        ("Apr 7, 2014 4:58:55 PM", "Europe/Paris", "2014-04-07T14:58:55.000Z"),
        ("2024-11-15T00:00:00Z", "America/Los_Angeles", "2024-11-15T00:00:00.000Z"),  # own zone
        ("2024-11-15T00:00:00+01:00", "Asia/Tokyo", "2024-11-14T23:00:00.000Z"),
        ("1396889935", "Asia/Tokyo", "2014-04-07T16:58:55.000Z"),  # an epoch is an instant
        ("2024-11-15", "+05:30", "2024-11-14T18:30:00.000Z"),
        ("2024-11-15", "UTC", "2024-11-15T00:00:00.000Z"),
        ("garbage", "UTC", None),
    ],
)
def test_parse_date_in(text: str, zone_name: str, expected: str | None) -> None:
    where = zone(zone_name)
    assert where is not None
    assert iso(parse_date_in(text, where, ANCHOR)) == expected


@pytest.mark.parametrize(
    "name", ["", "Not/AZone", "../../etc/passwd", "/etc/localtime", "America", "+25:00", "PST?"]
)
def test_zone_rejects(name: str) -> None:
    assert zone(name) is None


def test_zone_accepts() -> None:
    assert zone("UTC") is UTC
    assert zone("gmt") is UTC
    assert zone("-07:00") == timezone(timedelta(hours=-7))
    assert zone("America/New_York") is not None


@pytest.mark.parametrize(
    ("layout", "text", "expected"),
    [
        ("02/01/2006", "07/04/2014", "2014-04-07T00:00:00.000Z"),
        ("01/02/2006", "07/04/2014", "2014-07-04T00:00:00.000Z"),
        ("2006-01-02T15:04:05Z07:00", "2014-04-07T16:58:55-07:00", "2014-04-07T23:58:55.000Z"),
        ("2006-01-02T15:04:05Z07:00", "2014-04-07T16:58:55Z", "2014-04-07T16:58:55.000Z"),
        ("2006-01-02 15:04:05.000", "2014-04-07 16:58:55.123", "2014-04-07T16:58:55.123Z"),
        ("2006-01-02 15:04:05", "2014-04-07 16:58:55.5", "2014-04-07T16:58:55.500Z"),
        ("Jan _2, 2006 3:04PM", "Apr  7, 2014 4:58PM", "2014-04-07T16:58:00.000Z"),
        ("January 2 2006", "april 7 2014", "2014-04-07T00:00:00.000Z"),
        (
            "Mon, 02 Jan 2006 15:04:05 MST",
            "Mon, 07 Apr 2014 09:58:55 PDT",
            "2014-04-07T16:58:55.000Z",
        ),
        (
            "Monday, 02-Jan-06 15:04:05 -0700",
            "Monday, 07-Apr-14 09:58:55 -0700",
            "2014-04-07T16:58:55.000Z",
        ),
        ("20060102", "20140407", "2014-04-07T00:00:00.000Z"),
        ("2006.002", "2014.097", "2014-04-07T00:00:00.000Z"),
        ("02/01/2006", "7/4/2014", None),  # "02" wants two digits
        ("2/1/2006", "7/4/2014", "2014-04-07T00:00:00.000Z"),
        ("02/01/2006", "32/01/2014", None),
        ("02/01/2006", "2014-04-07", None),
        ("15:04", "16:58", None),  # no year: no instant
        ("2006.002", "2014.400", None),
        ("Mon 2006-01-02", "Xyz 2014-04-07", None),
        ("2006-01-02 MST", "2014-04-07 XYZ", None),
    ],
)
def test_parse_layout(layout: str, text: str, expected: str | None) -> None:
    assert iso(parse_layout(layout, text)) == expected


@given(st.integers(min_value=date_to_ms(datetime(1, 1, 2, tzinfo=UTC)), max_value=253402214400000))
def test_format_date_round_trips(ms: int) -> None:
    d = ms_to_date(ms)
    assert parse_date(format_date(d)) == d
    assert parse_date_local(format_date(d)) == d


@given(st.integers(min_value=10**12, max_value=10**13 - 1))
def test_thirteen_digit_strings_are_milliseconds(ms: int) -> None:
    assert parse_date(str(ms)) == ms_to_date(ms)


@given(st.text(max_size=40))
def test_parse_date_never_raises(text: str) -> None:
    d = parse_date(text, ANCHOR)
    assert d is None or (d.tzinfo is UTC and d.microsecond % 1000 == 0)
    local = parse_date_local(text, ANCHOR)
    assert (d is None) == (local is None)
