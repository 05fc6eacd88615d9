"""What the pipeline tells the layers above it when profiles change.

The pipeline sits below audiences and export jobs, so it cannot call them: the façade hands
the processor (and the bulk-ingest decoders) a `ProfileHook`, which the audience layer
implements (`engine.audiences.hook`). The pipeline calls it inside the transaction that
writes the profiles, so what it writes (memberships, outbox items) commits with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from engine.pipeline.profile import Profile
from engine.store import Store

# A profile's standing at a moment: the audiences it is in, and per audience with a
# relative-date filter, when its membership may change next (epoch ms, or None).
Standing = tuple[list[str], list[tuple[str, int | None]]]
OUTSIDE: Standing = ([], [])  # the standing where no hook is set

Viewer = Callable[[], dict[str, Any] | None]  # a profile's fields, read only if asked for


class ProfileHook(Protocol):
    """Told about every profile the pipeline creates, changes or merges away."""

    def standing(self, profile: Profile, now: int) -> Standing:
        """A new profile's standing, worked out where it is folded (a decoder process)."""
        ...

    def created(self, store: Store, profiles: Iterable[tuple[int, Standing, Viewer]],
                now: int) -> None:
        """Brand-new profiles were written, each with its `standing` and a reader of its
        fields (the caller's transaction)."""
        ...

    def changed(self, store: Store, profiles: Iterable[Profile],
                deleted: Mapping[int, int], now: int) -> None:
        """These profiles are about to be written and these ids were merged away, each into
        the profile given (the caller's transaction): an export can then tell Customer.io
        that two people are one."""
        ...
