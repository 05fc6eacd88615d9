"""qlbridge's expression and FilterQL test tables (``vm/vm_test.go``, ``vm/filterqlvm_test.go``,
``vm/datemath_test.go``), transcribed with the contexts their rows read.

Each row is qlbridge's text and qlbridge's answer, as its table has them: None where the table
expects nil or an evaluation error. What this engine answers on purpose otherwise, and what it
does not do yet, is said by `tests/lang/test_qlbridge_conformance.py`, not here, so these
tables stay a faithful copy.

qlbridge's tables read the wall clock (`time.Now()`); here one fixed instant, `NOW`, stands for
it: the event time of the expression rows and the evaluation clock of the filter rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)

# vm_test.go: `t0`, `t1` (dateparse of "12/18/2015" and "12/18/2039") and `msgContext`.
_T0 = datetime(2015, 12, 18, tzinfo=UTC)
_T1 = datetime(2039, 12, 18, tzinfo=UTC)
VM_CONTEXT: dict[str, Any] = {
    "int5": 5,
    "str5": "5",
    "created": NOW - timedelta(days=14),
    "bvalt": True,
    "bvalf": False,
    "user_id": "abc",
    "urls": ["abc", "123"],
    "hits": {"google.com": 5, "bing.com": 1},
    "email": "bob@bob.com",
    "mt": {"event0": _T0, "event1": _T1},
}

# vm_test.go, `vmTests`, in order.
VM_ROWS: list[tuple[str, Any]] = [
    # Date math
    ('created > "now-1M"', True),
    ('now() > todate("01/01/2014")', True),
    ('todate("now+3d") > now()', True),
    ("created < 2032220220175", True),
    # date operations on map[string]time data types
    ("mt.event0 > now()", False),
    ("mt.event1 > now()", True),
    ("mt.not_event > now()", False),
    ("!exists(user_id) OR toint(not_a_field) > 21", False),
    ("exists(user_id) OR toint(not_a_field) > 21", True),
    ("!exists(user_id) OR toint(str5) >= 1", True),
    ("!exists(user_id) OR toint(str5) < 1", False),
    # Contains func
    ('contains(key,"-")', False),
    ('not(contains(key,"-"))', True),
    ('contains(email,"@")', True),
    ('not(contains(email,"@"))', False),
    ('not(contains(key,"-")) AND not(contains(email,"@"))', False),
    ('not(contains(key,"-")) OR not(contains(email,"@"))', True),
    ('not(contains(key,"-")) OR not(contains(not_real,"@"))', True),
    ('str5 NOT IN ("nope") AND userid NOT IN ("abc") AND email NOT IN ("jane@bob.com")', True),
    # Native LIKE keyword
    ('["portland"] LIKE "*land"', True),
    ('["chicago"] LIKE "*land"', False),
    ('["New York"] LIKE "New York"', True),
    ('"New York" LIKE ["Boston","New York"]', True),
    ('"New York" LIKE split("Boston,New York", ",")', True),
    ('"New York" LIKE split("Boston",",")', False),
    ("user_id LIKE mt", None),
    ('urls LIKE "a*"', True),
    ('urls LIKE "d*"', False),
    ('split("chicago,portland",",") LIKE "*land"', True),
    ('split("chicago,portland",",") LIKE "*sea"', False),
    ('email LIKE "bob*"', True),
    ('email LIKE "bob"', False),
    ('email LIKE "*.com"', True),
    # Native Contains keyword
    ("[1,2,3] contains int5", False),
    ("[1,2,3] NOT contains int5", True),
    ("[1,2,3,5] contains int5", True),
    ("[1,2,3,5] NOT contains int5", False),
    ('email contains "bob"', True),
    ('email contains ["lss","bob"]', True),
    ('email contains split("lss,bob",",")', True),
    ('email contains split("lss,qr",",")', False),
    ('email NOT contains "bob"', False),
    ('urls contains "abc"', True),
    ('urls NOT contains "abc"', False),
    ('urls contains "ab"', True),
    # Between: Ternary Node Tests
    ("10 BETWEEN 1 AND 50", True),
    ('10 BETWEEN "1" AND 50', True),
    ('10 BETWEEN 1 AND "50"', True),
    ('10 BETWEEN 1 AND "55.5"', True),
    ('15.5 BETWEEN 1 AND "55.5"', True),
    ("10 BETWEEN 20 AND 50", False),
    ('10 BETWEEN 5 AND toint("50.5")', True),
    ("10 BETWEEN int5 AND 50", True),
    ("10 BETWEEN 20 AND true", None),
    ('created BETWEEN "12/18/2015" AND "12/18/2050"', True),
    ('created BETWEEN "now-50w" AND "12/18/2050"', True),
    # In: Multi Arg Tests
    ('10 IN ("a","b",10, 4.5)', True),
    ('10 IN ("a","b",20, 4.5)', False),
    ('"a" IN ("a","b",10, 4.5)', True),
    ('"a" IN ["a","b",10, 4.5]', True),
    ('10 NOT IN ("a","b" 4.5)', True),
    ('NOT (10 IN ("a","b" 4.5))', True),
    ('"a" NOT IN ("a","b" 4.5)', False),
    ('email NOT IN ("bob@bob.com")', False),
    ('NOT email IN ("bob@bob.com")', False),
    ('toint(not_a_field) NOT IN ("a","b" 4.5)', True),
    ('"a" IN urls', False),
    ('"abc" IN urls', True),
    ('"com" IN hits', False),
    ('"google.com" IN hits', True),
    ('"event0" IN mt', True),
    ('"event_no" IN mt', False),
    ('emaildomain(email) in "google.com"', False),
    ('"hello" == split("hell-no", ",")', None),
    # Binary String
    ('user_id == "abc"', True),
    ('user_id != "abcd"', True),
    ('user_id == "abcd"', False),
    ('user_id != "abc"', False),
    ('user_id > "abc"', None),
    ('user_id LIKE "*bc"', True),
    (r'user_id LIKE "\*bc"', False),
    ("user_id != NULL", True),
    # Binary Bool
    ("bvalt == true", True),
    ("bvalt = true", True),
    ("bvalf == false", True),
    ("bvalf = false", True),
    ("bvalt == bvalf", False),
    ("bvalt != bvalf", True),
    ("(toint(not_a_field) > 0) || true", True),
    ("user_id == true", False),
    # Boolean Logic DSL
    ('AND (email == "bob@bob.com")', True),
    ('AND (email == "bob@bob.com", EXISTS urls )', True),
    ('NOT AND (email == "bob@bob.com", EXISTS urls )', False),
    ('AND (email == "bob@bob.com", EXISTS not_a_field )', False),
    ('OR (email == "bob@bob.com", EXISTS not_a_field )', True),
    ('OR (email != "bob@bob.com", EXISTS not_a_field )', False),
    (
        '\n\t\tOR (\n\t\t\temail != "bob@bob.com"\n\t\t\tAND (\n'
        "\t\t\t\tNOT EXISTS not_a_field\n\t\t\t\tint5 == 5 \n\t\t\t)\n\t\t)",
        True,
    ),
    # Math
    ("5 + 4", 9),
    ("5.2 + 4", 9.2),
    ("(4 + 5) / 2", 4),
    ("6 > 5", True),
    ("6 > 5.5", True),
    ("6.5 > 5.5", True),
    ("6 == 6", True),
    ("6 != 5", True),
    ("!eq(5,6)", True),
    # Number on left
    ('5.5 +  ["hello"]', False),
    ('5.5 == ["5.5"]', True),
    ('5.5 == ["hello", 3, "5.5"]', True),
    ('5.5 == ["5.9", 99, "hello"]', False),
    # Numeric Boolean coerce
    ('"5.5" == 5.5', True),
    ('"5.5" > 5', True),
    # Boolean, with Context
    ("bvalt == true", True),
    ("bvalf == false", True),
    ("bvalf == true", False),
    ("!(bvalf == true)", True),
    ("EXISTS int5", True),
    ("EXISTS not_a_field", False),
    ("EXISTS bvalt", True),
    ("EXISTS bvalf", True),
    ("EXISTS toint(not_a_field)", False),
    ("6 == (5 + 1)", True),
    ("true || !eq(5,6)", True),
    # Context Based Tests
    ("int5 + 5", 10),
    ("int5 * 6", 30),
    ("toint(str5 * 6)", 30),
    ("toint(str5 + 6)", 11),
    ("user_id", "abc"),
    ("eq(toint(int5),5)", True),
    ("eq(toint(int5),6)", False),
    ("2 * (3 + 5)", 16),
    ("(bvalt == true && bvalf == false)", True),
    ('(fld1 != "stuff" AND (field2 == "stuff" AND toint(fieldx) > 7))', False),
    (
        '(\n\t\t\t(fld1 != "stuff" AND field = true)\n\t\t\tOR\n'
        '\t\t   (field2 == "stuff" AND toint(fieldx) > 7)\n\t\t)',
        False,
    ),
    # Code Elide/Collapse into simplest form
    ('user_id == "abc"', True),
    ('NOT (user_id != "abc")', True),
    ('user_id != "abcd"', True),
    ('NOT (user_id == "abcd")', True),
    ('email contains "bob"', True),
    ('NOT (email NOT contains "bob")', True),
    ("exists email", True),
    ("NOT (NOT EXISTS email)", True),
    ("exists not_a_field", False),
    ("NOT (NOT EXISTS not_a_field)", False),
    ("int5 > 10", False),
    ("NOT (int5 <= 10)", False),
    ("int5 < 10", True),
    ("NOT (int5 >= 10)", True),
    ("int5 >= 10", False),
    ("NOT (int5 < 10)", False),
    ("int5 <= 10", True),
    ("NOT (int5 > 10)", True),
    # Test some error/nil/non-eval expressions
    ("namex + true", None),
    ("namex + true || namex2 + true", False),
    ("(namex + true) == (namex2 + true)", False),
    ("(namex + true) != (namex2 + true)", False),
    ("(namex + true) > (namex2 + true)", False),
    ("(namex + true) + (namex2 + true)", None),
]

# filterqlvm_test.go, `TestFilterQlVm`: a `User` struct and a map, read as one context. The Go
# struct's method `FullName` reads as a field; its struct fields are found whatever the case
# the row spells them in (`BankAmount`, `bankamount`), which a map does not do, so the context
# holds each field as the rows spell it.
_SIGNEDUP = datetime(2015, 12, 18, tzinfo=UTC)
FILTER_CONTEXT: dict[str, Any] = {
    "name": "Yoda",
    "FullName": "Yoda, Jedi",
    "Created": _SIGNEDUP,
    "Updated": NOW - timedelta(hours=1),
    "Authenticated": True,
    "HasSession": True,
    "Address": {"City": "Detroit", "Zip": 55},
    "roles": ["admin", "api"],
    "BankAmount": 55.5,
    "bankamount": 55.5,
    "hits": {"foo": 5},
    "FirstEvent": {"signedup": _SIGNEDUP},
    "city": "Peoria, IL",
    "zip": 5,
    "lastevent": {"signedup": _SIGNEDUP},
    "last.event": {"has.period": _SIGNEDUP},
    "transactions": [_SIGNEDUP - timedelta(days=1), _SIGNEDUP + timedelta(days=1)],
    "transactionsnil": [],
}

# The statements the filter rows may INCLUDE (`newIncluderCtx`). Its third statement,
# `FILTER name == "not gonna happen ALIAS name_false"`, has its alias inside the quotes: it
# has no alias and no row includes it.
FILTER_INCLUDES = {
    "match_all_include": "FILTER *",
    "is_yoda_true": 'FILTER name == "Yoda"',
}

# `hits`: each matches the context; `misses`: none does.
FILTER_HITS: list[str] = [
    'FILTER name == "Yoda"',
    'FILTER name != "yoda"',
    'FILTER name = "Yoda"',
    'FILTER "Yoda" == name',
    'FILTER name != "Anakin"',
    'FILTER first_name != "Anakin"',
    'FILTER tolower(name) == "yoda"',
    'FILTER FullName == "Yoda, Jedi"',
    'FILTER Address.City == "Detroit"',
    'FILTER name LIKE "*da"',
    'FILTER name NOT LIKE "*kin"',
    'FILTER name CONTAINS "od"',
    'FILTER name NOT CONTAINS "kin"',
    'FILTER roles INTERSECTS ("user", "api")',
    'FILTER roles IN ("user", "api")',
    'FILTER roles NOT INTERSECTS ("user", "guest")',
    'FILTER Created BETWEEN "12/01/2015" AND "01/01/2016"',
    'FILTER NOT Created BETWEEN "12/01/2012" AND "01/01/2013"',
    'FILTER Created < "now-1d"',
    'FILTER NOT ( Created > "now-1d") ',
    'FILTER NOT ( FakeDate > "now-1d") ',
    'FILTER Updated > "now-2h"',
    'FILTER transactions < "now-1h"',
    'FILTER FirstEvent.signedup < "now-2h"',
    'FILTER FirstEvent.signedup == "12/18/2015"',
    'FILTER lastevent.signedup < "now-2h"',
    'FILTER lastevent.signedup == "12/18/2015"',
    'FILTER `lastevent`.`signedup` == "12/18/2015"',
    'FILTER `last.event`.`has.period` == "12/18/2015"',
    'FILTER hits INTERSECTS ("bar", "foo")',
    'FILTER hits IN ("bar", "foo")',
    'FILTER hits NOT IN ("not-gonna-happen")',
    'FILTER lastevent IN ("signedup")',
    'FILTER lastevent NOT IN ("not-gonna-happen")',
    "FILTER *",
    'FILTER OR (\n\t\t\tname == "Rey"     -- false \n\t\t\tINCLUDE match_all_include\n\t\t)',
    'FILTER OR (\n\t\t\tname == "Rey"     -- false \n\t\t\tINCLUDE is_yoda_true\n\t\t)',
    "FILTER OR (\n\t\t\tEXISTS name,       -- inline comments\n"
    "\t\t\tEXISTS not_a_key,  -- more inline comments\n\t\t)",
    "FILTER EXISTS transactions",
    "FILTER OR (\n\t\t\tEXISTS name\n"
    "\t\t\tEXISTS not_a_key   -- even if they have inline comments\n\t\t)",
    'FILTER AND (name == "Yoda", city == "Peoria, IL", zip == 5, BankAmount > 50)',
    'FILTER AND (zip == "5", BankAmount > "50")',
    'FILTER bankamount > "9.4"',
    'FILTER AND (zip == 5, "Yoda" == name, OR ( city IN ( "Portland, OR", "New York, NY", '
    '"Peoria, IL" ) ) )',
    "FILTER OR (\n\t\t\tEXISTS q, \n\t\t\tAND ( \n\t\t\t\tzip > 0, \n"
    '\t\t\t\tOR ( zip > 10000, zip < 100 ) \n\t\t\t), \n\t\t\tNOT ( name == "Yoda" ) )',
    "FILTER hits.foo > 1.5",
    'FILTER hits.foo > "1.5"',
    "FILTER NOT ( hits.foo > 5.5 )",
    'FILTER not_a_field NOT IN ("Yoda")',
]
FILTER_MISSES: list[str] = [
    'FILTER name == "yoda"',
    'FILTER not_a_field + "yoda"',
    "FILTER OR (false, false, AND (true, false))",
    'FILTER AND (name == "Yoda", city == "xxx", zip == 5)',
    'FILTER Created BETWEEN "12/01/2012" AND "01/01/2013"',
    'FILTER NOT Created BETWEEN "12/01/2015" AND "01/01/2016"',
    'FILTER lastevent.signedup > "now-2h"',
    'FILTER lastevent.signedup != "12/18/2015"',
    'FILTER transactionsnil < "now-1h"',
    'FILTER ["hello","apple"] < "now-1h"',
    "FILTER zip * 5 * 2",
]

# filterqlvm_test.go, `TestInclude`: `FILTER AND (x < 9000, INCLUDE test)`, where the includer
# knows only `test`, against two contexts; and an INCLUDE of a name it does not know.
INCLUDE_TEST = {"test": "FILTER AND (x > 5)"}
INCLUDE_ROWS: list[tuple[str, dict[str, Any], bool]] = [
    ("FILTER AND (x < 9000, INCLUDE test)", {"x": 6, "y": "1"}, True),
    ("FILTER AND (x < 9000, INCLUDE test)", {"x": 4, "y": "1"}, False),
    ("FILTER AND (x < 9000, INCLUDE shouldfail)", {"x": 6, "y": "1"}, False),
]

# filterqlvm_test.go, `filterSelects`: SELECT statements with a FILTER clause, and the fields
# each writes for `FILTER_CONTEXT` (None: the statement does not evaluate).
FILTER_SELECTS: list[tuple[str, dict[str, Any] | None]] = [
    ('select name, zip FROM mycontext FILTER name == "Yoda"', {"name": "Yoda", "zip": 5}),
    (
        "\n\t\tSELECT\n\t\t\tname\n\t\t\t, zip  IF zip > 2\n\t\tFROM mycontext \n"
        '\t\tFILTER name == "Yoda"',
        {"name": "Yoda", "zip": 5},
    ),
    (
        "\n\t\tSELECT\n\t\t\tname\n\t\t\t, zip  IF zip > 200\n\t\tFROM mycontext \n"
        '\t\tFILTER name == "Yoda"',
        {"name": "Yoda"},
    ),
    (
        '\n\t\tSELECT\n\t\t\tname IF name < true\n\t\tFROM mycontext \n\t\tFILTER name == "Yoda"',
        None,
    ),
    (
        '\n\t\tSELECT\n\t\t\tname IF zip + 5\n\t\tFROM mycontext \n\t\tFILTER name == "Yoda"',
        None,
    ),
]

# datemath_test.go, `TestDateBoundaries`: the context at `NOW`, and for each filter whether it
# matches now and the boundary, the next instant its answer can change (None for Go's zero
# time: never, whatever the clock).
BOUNDARY_CONTEXT: dict[str, Any] = {
    "last_event": NOW - timedelta(hours=12),
    "subscription_expires": NOW + timedelta(days=6),
    "lastevent": {"signedup": NOW},
    "first.event": {"has.period": NOW},
}
_H12, _H36 = NOW + timedelta(hours=12), NOW + timedelta(hours=36)
BOUNDARY_ROWS: list[tuple[str, bool, datetime | None]] = [
    ('FILTER last_event < "now-1d"', False, _H12),
    ('FILTER "now-1d" > last_event', False, _H12),
    (
        'FILTER OR (\n\t\t\t\tlast_event < "now-6d"\n\t\t\t\tlast_event < "now-1d"\n\t\t\t)',
        False,
        _H12,
    ),
    ('FILTER last_event > "now-1d"', True, _H12),
    ('FILTER  "now-1d" < last_event', True, _H12),
    ('FILTER last_event < "now-2d"', False, _H36),
    ('FILTER  "now-2d" > last_event', False, _H36),
    ('FILTER  "now-2d" >= last_event', False, _H36),
    ('FILTER "now+1d" < last_event', False, None),
    ('FILTER last_event > "now+1d"', False, None),
    ('FILTER "now+1d" <= last_event', False, None),
    ('FILTER last_event < "now+1h"', True, None),
    ('FILTER "now+1h" > last_event', True, None),
    (
        'FILTER OR (\n\t\t\t\t"now+1h" > last_event\n\t\t\t\tx BETWEEN a AND b\n'
        "\t\t\t\texists(not_a_field)\n\t\t\t)",
        True,
        None,
    ),
    (
        'FILTER OR (\n\t\t\t\t"now+1h" > last_event\n\t\t\t\tlast_event IN ("a", "b")\n\t\t\t)',
        True,
        None,
    ),
]

# datemath_test.go, `TestDateMath`: the context (read one minute after `NOW`), its includes,
# and filters that hold date math and do not match.
DATEMATH_CONTEXT: dict[str, Any] = {
    "event": "login",
    "last_event": NOW,
    "signedup": NOW,
    "subscription_expires": NOW + timedelta(days=6),
    "lastevent": {"signedup": NOW},
    "first.event": {"has.period": NOW},
}
DATEMATH_AT = NOW + timedelta(minutes=1)
DATEMATH_INCLUDES = {
    "signedup_onedayago": 'FILTER signedup < "now-2d"',
    "subscription_expires_oneweek": 'FILTER subscription_expires < "now+1w"',
}
DATEMATH_MISSES = [
    'FILTER last_event < "now-1d"',
    'FILTER AND (EXISTS event, last_event < "now-1d", INCLUDE signedup_onedayago)',
]
# The relative dates `NewDateConverter` refuses (True) or takes (False).
DATEMATH_RELATIVE: list[tuple[str, bool]] = [
    ('FILTER AND ( last_event > "now-3x")', True),
    ('FILTER AND ( last_event == "now-")', True),
    ('FILTER AND ( last_event == "now+")', True),
    ('FILTER AND ( last_event == "now+now")', True),
    ('FILTER AND ( last_event == "now-3d")', False),
    ('FILTER AND ( last_event == "now")', False),
]
