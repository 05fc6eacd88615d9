"""AST → Python source → one compiled function per group of expressions (docs/language.md).

A group is every field of a mapping (or of a stream transform), or a single expression. The
function reads each identifier of the event once into a local, computes shared sub-expressions
once, nests fields under the conditions they share, and writes small functions inline.
`expressions` writes values, `group` writes the function around them; what is special about a
function is declared in its registry entry (`engine.lang.registry`), never named here.

Safety rules, as in Jinja's compiler: user text reaches the source only as ``repr()`` of a
plain constant; user names are string keys, never Python names (those come from a counter); the
code runs in a namespace holding only the runtime helpers and the registry's implementations;
`line_map` leads from each generated line back to the config span it came from.
"""

from engine.lang.codegen.group import Generated, Item, Mode, generate

__all__ = ["Generated", "Item", "Mode", "generate"]
