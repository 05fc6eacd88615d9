"""The loaded configuration as plain data: what the YAML files say, with where they say it.

The loader (`engine.config.loader`) builds these objects from YAML, keeping a `Source` and span for
every expression so that checks and run-time messages point into the file. Nothing here compiles
or touches storage; `engine.pipeline` compiles streams and mappings from these specs.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class AuthorizationSpec:
    name: str
    provider: str
    site_id: str = ""
    api_key: str = ""
    region: str = "us"
    base_url: str = ""
    webhook_signing_keys: tuple[str, ...] = ()
    webhook_max_age_s: int = 300  # a signed request older than this is refused; 0: any age
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class ImportSpec:
    name: str
    provider: str
    authorization: str
    stream: str
    at: Located | None = None
    places: dict[str, Located] = field(default_factory=_places, compare=False, repr=False)


@dataclass(frozen=True)
class ExportSpec:
    name: str
    provider: str
    authorization: str
    audience: str
    id_field: str
    email_field: str | None = None
    extra_attributes: tuple[str, ...] = ()
    existing_users: bool = False
    on_exit: str = "none"
    rate_limit_per_s: float = 100.0  # requests per second; 0: no limit
    batch_max_items: int = 100
    batch_max_bytes: int = 500_000
    api: str = "v2"  # v2: POST /api/v2/batch; v1: PUT /api/v1/customers/{id} per member
    concurrency: int = 2  # requests in flight at once
    retry_horizon_s: int = 86_400  # a failing item is retried this long, then dead-lettered
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
    backend: str = "sqlite"
    path: str = "./.engine/engine.db"
    dsn: str = ""


@dataclass(frozen=True)
class TransportSpec:
    backend: str = "local"
    url: str = ""
    stream: str = ""


@dataclass(frozen=True)
class ServerSpec:
    listen: str = "127.0.0.1:8080"
    collect_tokens: tuple[str, ...] = ()
    admin_token: str = ""
    max_body_bytes: int = 1_048_576
    max_queue_events: int = 100_000  # events waiting for their commit; more get 429
    max_events_per_request: int = 10_000  # more in one body get 413
    header_timeout_s: float = 10.0  # a request's headers must be whole by then, else 408
    body_timeout_s: float = 30.0  # most seconds between two pieces of a body, else 408
    body_total_timeout_s: float = 120.0  # most seconds for a whole body, else 408
    max_connections: int = 1000  # open at once; more get 503 and are closed


@dataclass(frozen=True)
class IdentitySpec:
    max_profiles_per_value: int = 100


@dataclass(frozen=True)
class PipelineSpec:
    # An event whose evaluation (transforms and mappings) runs longer is a dead letter.
    event_budget_ms: int = 1000


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
