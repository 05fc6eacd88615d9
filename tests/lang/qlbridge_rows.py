"""The event qlbridge's builtins test table evaluates its rows against, as our event.

qlbridge's ``expr/builtins/builtins_test.go`` reads its rows against a context of string fields
and a Go struct (`Address`, a struct, stands for a value no function can take: here a map). The
tests of the functions it covers transcribe their rows against this event at `TS`; a row whose
expected value is qlbridge's error or nil expects missing here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# "Apr 7, 2014 4:58:55 PM": the message time of qlbridge's test context.
TS = datetime(2014, 4, 7, 16, 58, 55, tzinfo=UTC)

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.11 (KHTML, like Gecko) "
    "Chrome/23.0.1271.97 Safari/537.11"
)

EVENT: dict[str, Any] = {
    "event": "hello",
    "reg_date": "10/13/2014",
    "msdate": "1438445529707",
    "msdate2": "1950-05-08 19:00:00.998",
    "nanodate": "1438445529707123456",
    "microdate": "1950-05-08 19:00:00.999998",
    "microdate2": "2020-05-08 19:00:00.999998",
    "price": "$55",
    "email": "email@email.com",
    "emails": ["email1@email.com", "email2@email.com"],
    "url": "http://www.site.com/membership/all.html",
    "score_amount": "22",
    "tag_name": "bob",
    "tags": ["a", "b", "c", "d"],
    "sval": "event43,event4=63.00,event228",
    "ua": UA,
    "json_field": '[{"name":"n1","ct":8,"b":true, "tags":["a","b"]},'
    '{"name":"n2","ct":10,"b": false, "tags":["a","b"]}]',
    "json_bad": '[{"name":"bob",},]}',
    "json_object": '{"name":"bob", "city":"portland"}',
    "Address": {"City": "Detroit", "Zip": 55},
    "EmptyStrings": [],
}
