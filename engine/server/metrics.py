"""The daemon's Prometheus metrics (docs/http.md), on a registry of its own.

Counters move where things happen (the collect handler, the writer thread); what is cheaper to
read than to track — queue depths, the log backlog, mapping failures per field — is read when
Prometheus scrapes, by a collector over live state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.version import engine_version, python_version

disable_created_metrics()  # type: ignore[no-untyped-call]  # `*_created` series tell nothing here

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Live:
    """Readers of live state, called at scrape time."""

    failures: Callable[[], dict[str, dict[str, int]]]  # transform or mapping -> field -> n
    queue_events: Callable[[], int]
    backlog_events: Callable[[], int]
    profiles: Callable[[], int]
    retrying: Callable[[], int]  # consecutive failed attempts to apply the log; 0 = healthy


class _LiveCollector(Collector):
    def __init__(self, live: Live) -> None:
        self.live = live

    def describe(self) -> list[Metric]:
        return []  # read live state only when scraped, not when registered

    def collect(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily("engine_queue_events",
                                  "Events received and waiting for their durable commit")
        queue.add_metric([], self.live.queue_events())
        yield queue
        backlog = GaugeMetricFamily("engine_backlog_events",
                                    "Logged events not yet applied to profiles")
        backlog.add_metric([], self.live.backlog_events())
        yield backlog
        profiles = GaugeMetricFamily("engine_profiles", "Profiles in the store")
        profiles.add_metric([], self.live.profiles())
        yield profiles
        retrying = GaugeMetricFamily(
            "engine_processor_retrying", "Consecutive failed attempts of the processor to "
            "apply the event log (the store failing; 0 when it applies)")
        retrying.add_metric([], self.live.retrying())
        yield retrying
        failures = CounterMetricFamily(
            "engine_mapping_errors", "Evaluations of a transform or mapping field that failed "
            "(since the config was loaded)", labels=["mapping", "field"])
        for name, fields in sorted(self.live.failures().items()):
            for field, count in sorted(fields.items()):
                failures.add_metric([name, field], count)
        yield failures


class Metrics:
    """Every metric the daemon exports."""

    def __init__(self, live: Live) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_in = Counter("engine_events_received", "Events received by the collect "
                                 "API", ["stream"], registry=r)
        self.events_accepted = Counter("engine_events_accepted", "Events made durable in the "
                                       "log", ["stream"], registry=r)
        self.events_duplicate = Counter("engine_events_duplicate", "Events acknowledged as "
                                        "duplicates of logged ones", ["stream"], registry=r)
        self.bodies_undecodable = Counter("engine_bodies_undecodable", "Collect request bodies "
                                          "that could not be decoded, kept as dead letters "
                                          "(on_undecodable: dead_letter)", ["stream"],
                                          registry=r)
        self.requests_rejected = Counter("engine_requests_rejected", "Collect requests refused, "
                                         "by error code", ["stream", "code"], registry=r)
        self.events_rejected = Counter("engine_events_rejected", "Events in refused collect "
                                       "requests, by error code", ["stream", "code"], registry=r)
        self.events_applied = Counter("engine_events_applied", "Logged events applied to "
                                      "profiles", registry=r)
        self.processor_failures = Counter("engine_processor_failures", "Attempts to apply "
                                          "the event log that failed and are retried",
                                          registry=r)
        self.dead_letters = Counter("engine_dead_letters", "Events sent to the _errors "
                                    "dead-letter stream", registry=r)
        self.profiles_created = Counter("engine_profiles_created", "Profiles created",
                                        registry=r)
        self.merges = Counter("engine_profile_merges", "Profiles merged into another by "
                              "identity resolution", registry=r)
        self.overmerge_skipped = Counter("engine_overmerge_skipped", "Merges not made because "
                                         "an identity value already joins "
                                         "identity.max_profiles_per_value profiles", registry=r)
        self.unidentified = Counter("engine_events_unidentified", "Mapped events that carried "
                                    "no identity", registry=r)
        self.audience_size = Gauge("engine_audience_members", "Members of each audience",
                                   ["audience"], registry=r)
        self.audience_transitions = Counter("engine_audience_transitions", "Profiles entering "
                                            "or leaving an audience", ["audience", "direction"],
                                            registry=r)
        self.export_items = Counter("engine_export_items", "Export items by outcome: sent, "
                                    "retried, dead (refused for good), superseded (a failed "
                                    "identify dropped for a newer one)", ["job", "outcome"],
                                    registry=r)
        self.commit_seconds = Histogram("engine_commit_seconds", "Durable group commits of "
                                        "the collect API", buckets=LATENCY_BUCKETS, registry=r)
        self.commit_events = Histogram("engine_commit_events", "Events per group commit",
                                       buckets=(1, 10, 100, 500, 1000, 5000, 20000, 100000),
                                       registry=r)
        self.process_seconds = Histogram("engine_process_seconds", "Processing-loop slices "
                                         "(apply, then commit with the position)",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.request_seconds = Histogram("engine_request_seconds", "Collect requests, from "
                                         "the body read to the answer", ["stream"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.reloads = Counter("engine_config_reloads", "Config reloads by outcome",
                               ["outcome"], registry=r)
        # Constant 1; its labels tell a dashboard which version each node of a fleet runs.
        self.build_info = Gauge("engine_build_info", "The engine's version and its Python's",
                                ["version", "python"], registry=r)
        self.build_info.labels(version=engine_version(), python=python_version()).set(1)
        r.register(_LiveCollector(live))
