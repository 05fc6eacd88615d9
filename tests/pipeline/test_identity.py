"""Identity resolution details: the over-merge guard and reopening a store (§6.1)."""

from __future__ import annotations

import dataclasses

from engine import Config
from engine.config.model import IdentitySpec
from engine.engine import Engine
from tests.pipeline.conftest import Stores, webhook

T0 = 1_769_420_000


def test_an_identity_that_joined_too_many_profiles_merges_no_more(config: Config,
                                                                   stores: Stores) -> None:
    guarded = Config(dataclasses.replace(config.settings,
                                         identity=IdentitySpec(max_profiles_per_value=2)))
    shared = "info@example.com"
    with Engine(guarded, storage=stores("g")) as eng:
        # five people known by id, each then seen with the same shared address
        eng.ingest("customerio", [webhook(f"a{i}", "email", "sent", T0 + i, id=f"usr_{i}")
                                  for i in range(5)])
        result = eng.ingest("customerio", [
            webhook(f"b{i}", "email", "opened", T0 + 100 + i, id=f"usr_{i}", email=shared)
            for i in range(5)])
        assert result.stats.merges == 2  # usr_1 and usr_2 joined usr_0 through the address
        assert result.stats.overmerge_skipped == 2
        assert result.as_dict()["overmerge_skipped"] == 2  # what `engine ingest --json` reports
        holder = eng.profile("email", shared)
        assert holder is not None
        assert holder["_identities"]["cio_customer_id"] == ["usr_0", "usr_1", "usr_2"]
        for i in (3, 4):
            alone = eng.profile("cio_customer_id", f"usr_{i}")
            assert alone is not None and alone["_id"] != holder["_id"]
            assert alone["cio_events"] == {"email_opened": 1, "email_sent": 1}


def test_reopening_a_store_keeps_its_schema_and_positions(config: Config, stores: Stores) -> None:
    path = stores("e")
    with Engine(config, storage=path) as eng:
        eng.ingest("customerio", [webhook("x1", "email", "opened", T0, id="usr_x")])
    with Engine(config, storage=path) as eng:
        assert eng.store.position("profiles") == 1
        again = eng.ingest("customerio", [webhook("x1", "email", "opened", T0, id="usr_x"),
                                          webhook("x2", "email", "opened", T0 + 1, id="usr_y")])
        assert (again.accepted, again.duplicates) == (1, 1)
        profile = eng.profile("cio_customer_id", "usr_y")
        assert profile is not None and profile["_id"] == 2


def test_seqs_left_unused_by_duplicates_never_hide_later_events(config: Config,
                                                                 stores: Stores) -> None:
    path = stores("gaps")
    first = webhook("g1", "email", "opened", T0, id="usr_g1")
    with Engine(config, storage=path) as eng:
        eng.ingest("customerio", [first])
        assert eng.ingest("customerio", [first, first]).duplicates == 2  # seqs reserved, unused
        eng.replay()  # the position moves to the newest logged event
    with Engine(config, storage=path) as eng:
        eng.ingest("customerio", [webhook("g2", "email", "opened", T0 + 1, id="usr_g2")])
        assert eng.profile("cio_customer_id", "usr_g2") is not None
    with Engine(config, storage=path) as eng:  # and a fresh start drains nothing twice
        profile = eng.profile("cio_customer_id", "usr_g1")
        assert profile is not None and profile["cio_events"] == {"email_opened": 1}
