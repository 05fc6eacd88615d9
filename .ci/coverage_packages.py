"""Line coverage of engine/ per package, from the combined data of a `make test` run.

`coverage report` lists files; a reader of the run wants to see at a glance which layer is
thin, so this sums the statements of each top-level package (engine/<package>/, and the
modules directly under engine/ as `engine`).
"""

from __future__ import annotations

import sys
from collections import defaultdict

import coverage


def main() -> int:
    cov = coverage.Coverage()
    cov.load()
    data = cov.get_data()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in sorted(data.measured_files()):
        if not path.endswith(".py"):  # the console's Jinja2 templates run as code of their own
            continue
        _, statements, _, missing, _ = cov.analysis2(path)
        parts = path.replace("\\", "/").rsplit("/engine/", 1)[-1].split("/")
        package = parts[0] if len(parts) > 1 else "engine"
        totals[package][0] += len(statements)
        totals[package][1] += len(statements) - len(missing)
    print(f"{'package':<12} {'lines':>7} {'covered':>8} {'cover':>7}")
    for package, (lines, covered) in sorted(totals.items()):
        print(f"{package:<12} {lines:>7} {covered:>8} {100 * covered / max(lines, 1):>6.1f}%")
    lines = sum(t[0] for t in totals.values())
    covered = sum(t[1] for t in totals.values())
    print(f"{'total':<12} {lines:>7} {covered:>8} {100 * covered / max(lines, 1):>6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
