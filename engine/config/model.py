"""The loaded configuration as plain data: what the YAML files say, with where they say it.

The loader (`engine.config.loader`) builds these objects from YAML, keeping a `Source` and span for
every expression so that checks and run-time messages point into the file. Nothing here compiles
or touches storage; `engine.pipeline` compiles streams and mappings from these specs.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Source
from engine.lang.compiler import FieldSpec

# Field types of docs/pipeline.md and the `merge` values each accepts (the first is the default).
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("latest", "oldest", "min", "max"),
    "int": ("latest", "oldest", "min", "max", "sum"),
    "number": ("latest", "oldest", "min", "max", "sum"),
    "bool": ("latest", "oldest"),
    "date": ("latest", "oldest", "min", "max"),
    "[]string": ("union", "latest"),
    "[]time": ("union", "latest"),
    "ts[]string": ("union",),
    "map[string]int": ("latest", "min", "max"),
    "map[string]intsum": ("sum",),
    "map[string]number": ("latest", "min", "max"),
    "map[string]string": ("latest",),
    "map[string]bool": ("latest",),
    "map[string]time": ("latest", "min", "max"),
}

# The merge an aggregate implies when the field does not name one (docs/pipeline.md).
AGGREGATE_MERGE: dict[str, str] = {"max": "max", "min": "min", "count": "sum", "sum": "sum",
                                   "set": "union", "valuect": "sum"}


def key(path: str = "", ref: str = "", **schema: Any) -> dict[str, Any]:
    """The metadata of a dataclass field that is a config key, for what its annotation and
    default do not say: the JSON Schema words its value must meet (``enum``, ``minimum``, …;
    `ref` names a ``$defs`` entry such as ``name``) and, when the YAML key is not the field's
    name, its dotted `path` in the item (``batch.max_items``). The schema's section and the
    loader's builder are both made from the fields (docs/config.md, "Adding a config key")."""
    if ref:
        schema = {"$ref": f"#/$defs/{ref}", **schema}
    return {"key": tuple(path.split(".")) if path else None, "schema": schema}


NOT_A_KEY: dict[str, Any] = {"key": False}
"""The metadata of a field that is not a key of its item (an authorization's name is its label)."""


@dataclass(frozen=True)
class ConfigKey:
    """One config key, as its dataclass field declares it."""

    field: str
    path: tuple[str, ...]  # where the value sits in the section or item: ("batch", "max_items")
    type: str  # the field's annotation: str, int, float, bool, tuple[str, ...] or str | None
    schema: dict[str, Any]  # the JSON Schema words beyond the type's
    default: Any  # dataclasses.MISSING: a required key

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


@functools.cache
def config_keys(section: type) -> tuple[ConfigKey, ...]:
    """The keys of a settings section or item (`StorageSpec`, `ExportSpec`, …), in the order
    of its fields: every field but `at`, `places` and those marked `NOT_A_KEY`."""
    keys = []
    for f in dataclasses.fields(section):
        meta = f.metadata
        if f.name in ("at", "places") or meta.get("key") is False:
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        annotation = f.type.__name__ if isinstance(f.type, type) else str(f.type)
        keys.append(ConfigKey(f.name, meta.get("key") or (f.name,), annotation,
                              dict(meta.get("schema", {})), default))
    return tuple(keys)


@dataclass(frozen=True)
class Located:
    """Where a config node sits: for messages that name a key rather than an expression."""

    source: Source
    start: int
    end: int


def _places() -> dict[str, Located]:
    """Where each key's value of a config item is written (``"stream"``, ``"by.0"``), so that a
    check about one value can point at it; empty for items built in code."""
    return {}


@dataclass(frozen=True)
class Expr:
    """An expression written in a config file: its text and the `Source` that maps it back."""

    text: str
    source: Source


@dataclass(frozen=True)
class StreamSpec:
    """A raw stream (no `from`) or a derived stream (`from` + `fields`, optional `where`)."""

    name: str
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)
    timestamp: Expr | None = None
    id: Expr | None = None
    from_: str | None = None
    where: Expr | None = None
    fields: tuple[FieldSpec, ...] = ()

    @property
    def collectable(self) -> bool:
        """Whether events may be sent to this stream (collect API, `engine ingest`,
        `Engine.ingest`): only raw streams. A derived stream's events are what its transform
        makes of its source's; taking posts there would skip the source's signature check and
        its transform (docs/http.md)."""
        return self.from_ is None

    def not_collectable(self) -> str:
        """Why events cannot be sent here, naming the stream to send them to instead."""
        return (f"stream {self.name!r} is derived from {self.from_!r}: it takes no events of "
                f"its own; send them to {self.from_!r}")


@dataclass(frozen=True)
class MappingField:
    """One row of a mapping: the expression side (`spec`) plus how its values merge."""

    spec: FieldSpec
    merge: str | None = None  # None: the aggregate's or the type's default
    description: str = ""
    capacity: int | None = None
    keep_days: int | None = None
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.field

    @property
    def type(self) -> str:
        return self.spec.type or "string"


@dataclass(frozen=True)
class MappingSpec:
    name: str
    stream: str
    into: str
    by: tuple[str, ...]
    fields: tuple[MappingField, ...]
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class AudienceSpec:
    name: str
    filter: Expr
    description: str = ""
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


# The settings sections and items below declare each config key once, as a field: its type,
# its default (none: the key is required) and, in `key(...)`, what else the schema requires of
# it. `engine.config.schema` makes their JSON Schema from the fields, `engine.config.loader`
# builds them from the fields (docs/config.md, "Adding a config key").

CUSTOMERIO = ("customerio",)  # the providers an authorization, import or export may name
IDENTIFIER_KINDS = ("id", "email", "cio_id")  # how Customer.io may address a person
ON_EXIT = ("none", "delete", "attribute", "suppress")  # what an export does when one leaves
MAX_SEGMENT_ID = 2**31 - 1  # Customer.io's segment ids are 32-bit signed integers
MAX_EVENT_NAME_BYTES = 100  # of a Customer.io event's name, in UTF-8


@dataclass(frozen=True)
class AuthorizationSpec:
    name: str = field(metadata=NOT_A_KEY)  # its label under `authorizations:`
    provider: str = field(metadata=key(enum=CUSTOMERIO))
    site_id: str = field(default="", metadata=key(type=["string", "integer"]))
    api_key: str = ""
    region: str = field(default="us", metadata=key(enum=("us", "eu")))
    base_url: str = ""
    # requests per second of every export job on it together, on every node; 0: no limit
    rate_limit_per_s: float = field(default=0.0, metadata=key(minimum=0))
    webhook_signing_keys: tuple[str, ...] = ()
    # a signed request older than this is refused; 0: any age
    webhook_max_age_s: int = field(default=300, metadata=key(minimum=0))
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class ImportSpec:
    name: str = field(metadata=key(ref="name"))
    provider: str = field(metadata=key(enum=CUSTOMERIO))
    authorization: str = field(metadata=key(ref="name"))
    stream: str = field(metadata=key(ref="name"))
    # A body that passes the token and signature checks but cannot be decoded: dead_letter
    # keeps it as a dead letter and answers 200, so that the sender's queue never stalls on
    # it; reject answers 400, as for any other stream (docs/http.md)
    on_undecodable: str = field(default="dead_letter",
                                metadata=key(enum=("dead_letter", "reject")))
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class ExportSpec:
    name: str = field(metadata=key(ref="name"))
    description: str = field(default="", kw_only=True)  # for the config's readers
    provider: str = field(metadata=key(enum=CUSTOMERIO))
    authorization: str = field(metadata=key(ref="name"))
    audience: str = field(metadata=key(ref="name"))
    id_field: str = field(metadata=key(ref="name"))
    email_field: str | None = field(
        default=None, metadata=key(anyOf=[{"$ref": "#/$defs/name"}, {"type": "null"}]))
    extra_attributes: tuple[str, ...] = field(
        default=(), metadata=key(items={"$ref": "#/$defs/name"}))
    existing_users: bool = False
    # how Customer.io addresses the person; `id_field` holds that identifier's value
    identifier: str = field(default="id", metadata=key(enum=IDENTIFIER_KINDS))
    # true: `in_<audience>` is true on enter and false on exit
    membership_attribute: bool = False
    on_exit: str = field(default="none", metadata=key(enum=ON_EXIT))
    # Customer.io events sent on enter and on exit ("": none), at most 100 bytes of UTF-8
    event_on_enter: str = field(
        default="", metadata=key("events.on_enter", maxLength=MAX_EVENT_NAME_BYTES))
    event_on_exit: str = field(
        default="", metadata=key("events.on_exit", maxLength=MAX_EVENT_NAME_BYTES))
    # > 0: the manual segment kept equal to the audience (0: none)
    segment_id: int = field(default=0, metadata=key(minimum=0, maximum=MAX_SEGMENT_ID))
    # requests per second; 0: no limit
    rate_limit_per_s: float = field(default=100.0, metadata=key(minimum=0))
    batch_max_items: int = field(default=100, metadata=key("batch.max_items", minimum=1))
    batch_max_bytes: int = field(default=500_000, metadata=key("batch.max_bytes", minimum=1))
    # v2: POST /api/v2/batch; v1: PUT /api/v1/customers/{id} per member
    api: str = field(default="v2", metadata=key(enum=("v2", "v1")))
    # requests in flight at once
    concurrency: int = field(default=2, metadata=key(minimum=1, maximum=64))
    # a failing item is retried this long, then dead-lettered
    retry_horizon_s: int = field(default=86_400, metadata=key(minimum=0))
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class TestCase:
    """A config test (docs/config.md): raw events into a stream, then expectations."""

    name: str
    stream: str
    events: tuple[dict[str, Any], ...]
    headers: dict[str, str] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class StorageSpec:
    backend: str = field(default="sqlite", metadata=key(enum=("sqlite", "postgres")))
    path: str = "./.engine/engine.db"
    dsn: str = ""
    # postgres: the schema that holds this engine's tables (several engines share a database)
    schema: str = field(default="engine", metadata=key(pattern="^[a-z_][a-z0-9_]{0,62}$"))
    # postgres with nats: how long the dedupe key of an applied event is kept (Customer.io
    # retries a webhook for up to a week)
    dedupe_days: int = field(default=7, metadata=key(minimum=1))


@dataclass(frozen=True)
class TransportSpec:
    backend: str = field(default="local", metadata=key(enum=("local", "nats")))
    url: str = ""
    # nats: the JetStream stream that holds the event log ("": ENGINE)
    stream: str = field(default="ENGINE", metadata=key(pattern="^[A-Za-z0-9_-]{0,200}$"))
    # nats: how long a processing node may hold a batch unacknowledged before another node
    # is given it (a node that died mid-batch)
    ack_wait_s: float = field(default=30.0, metadata=key(exclusiveMinimum=0))


def _at_least_1(default: int) -> Any:
    return field(default=default, metadata=key(minimum=1))


def _seconds(default: float) -> Any:
    return field(default=default, metadata=key(exclusiveMinimum=0))


@dataclass(frozen=True)
class ServerSpec:
    listen: str = "127.0.0.1:8080"
    collect_tokens: tuple[str, ...] = ()
    admin_token: str = ""
    max_body_bytes: int = _at_least_1(1_048_576)
    max_queue_events: int = _at_least_1(100_000)  # events waiting for their commit; more get 429
    max_events_per_request: int = _at_least_1(10_000)  # more in one body get 413
    header_timeout_s: float = _seconds(10.0)  # a request's headers must be whole by then, else 408
    body_timeout_s: float = _seconds(30.0)  # most seconds between two pieces of a body, else 408
    body_total_timeout_s: float = _seconds(120.0)  # most seconds for a whole body, else 408
    max_connections: int = _at_least_1(1000)  # open at once; more get 503 and are closed


@dataclass(frozen=True)
class IdentitySpec:
    max_profiles_per_value: int = _at_least_1(100)


@dataclass(frozen=True)
class PipelineSpec:
    # An event whose evaluation (transforms and mappings) runs longer is a dead letter.
    event_budget_ms: int = _at_least_1(1000)


@dataclass(frozen=True)
class Settings:
    """Everything in the config files, resolved and interpolated, not yet compiled."""

    path: str
    version: int = 1
    storage: StorageSpec = StorageSpec()
    transport: TransportSpec = TransportSpec()
    server: ServerSpec = ServerSpec()
    identity: IdentitySpec = IdentitySpec()
    pipeline: PipelineSpec = PipelineSpec()
    authorizations: tuple[AuthorizationSpec, ...] = ()
    imports: tuple[ImportSpec, ...] = ()
    streams: tuple[StreamSpec, ...] = ()
    mappings: tuple[MappingSpec, ...] = ()
    audiences: tuple[AudienceSpec, ...] = ()
    exports: tuple[ExportSpec, ...] = ()
    tests: tuple[TestCase, ...] = ()
    files: tuple[str, ...] = ()  # every file read, the config first
