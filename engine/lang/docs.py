"""Renders ``docs/functions.md`` from the function registry.

Regenerate with ``make docs`` (``python -m engine.lang.docs docs/functions.md``); a test fails
while the committed page differs from what the registry says.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from engine.lang.functions import FUNCTIONS, Function
from engine.lang.registry import EXAMPLE_EVENT

GROUP_ORDER = ["logic", "strings", "casting", "math", "collections", "web", "hashing", "time",
               "aggregates"]
GROUP_TITLES = {
    "logic": "Logic",
    "strings": "Strings",
    "casting": "Casting",
    "math": "Math",
    "collections": "Lists and maps",
    "web": "Email, URL and phone",
    "hashing": "Hashing and encoding",
    "time": "Time",
    "aggregates": "Aggregates (top of a mapping expression only)",
}


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    entries: dict[str, Function] = {}
    for fn in FUNCTIONS.values():
        entries.setdefault(fn.name, fn)
    groups: dict[str, list[Function]] = {}
    for fn in entries.values():
        groups.setdefault(fn.group, []).append(fn)
    order = GROUP_ORDER + sorted(set(groups) - set(GROUP_ORDER))
    out = [
        "# Functions",
        "",
        "Generated from the function registry (`engine/lang/functions/`) by `make docs`;",
        "do not edit by hand. Missing values, types and coercions are described in",
        "[language.md](language.md).",
        "",
        f"{len(entries)} functions, {len(FUNCTIONS) - len(entries)} aliases. Examples are",
        f"evaluated against the event `{orjson.dumps(EXAMPLE_EVENT).decode()}` with event time",
        "2014-04-07T16:58:55Z.",
        "",
    ]
    for group in order:
        if group not in groups:
            continue
        out += [f"## {GROUP_TITLES.get(group, group.title())}", ""]
        out += ["| function | signature | missing in | what it does | example |",
                "|---|---|---|---|---|"]
        for fn in sorted(groups[group], key=lambda f: f.name):
            names = ", ".join(f"`{a}`" for a in (fn.name, *fn.aliases))
            sig = _escape(f"`{fn.name}{fn.signature.render()}`")
            missing = "→ missing" if fn.nulls == "propagate" else "handled"
            example = "<br>".join(_escape(f"`{e}` → `{r}`") for e, r in fn.examples) or ""
            out.append(f"| {names} | {sig} | {missing} | {_escape(fn.doc)} | {example} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    text = render()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
