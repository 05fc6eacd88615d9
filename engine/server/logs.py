"""The daemon's logs: JSON lines on stderr with every secret redacted (docs/http.md).

Every configured secret and every ``key=`` query value is replaced by ``[redacted]``, and the
user-info of every URL (``user:pass@``) by ``***@``, in the final text, whichever library wrote
the message (httpx logs the URLs it requests, and a base URL may carry credentials). Both the
server process and its processor process log this way.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.program import Config

# Attributes every record has; anything else on a record is an `extra` to log (but uvicorn's
# terminal-coloured copy of its message).
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "color_message"}
_QUERY_KEY = re.compile(r"(?i)([?&](?:key|token|api_key)=)[^&\s\"']+")
# `scheme://` then user-info up to the last `@` before the host: no `/`, `?`, `#` (they end the
# authority), no space or quote (they end the URL in a log line).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s\"'\\]+@")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; secrets redacted from the finished line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is redacted whole.
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                doc[name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return self.redact(orjson.dumps(doc, default=str).decode())

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        if "@" in text:
            text = _URL_USERINFO.sub(r"\1***@", text)
        return _QUERY_KEY.sub(r"\1[redacted]", text)


def secrets_of(config: Config) -> list[str]:
    settings = config.settings
    found = [*settings.server.collect_tokens, settings.server.admin_token]
    for auth in settings.authorizations:
        found += [auth.api_key, *auth.webhook_signing_keys]
    dsn = settings.storage.dsn
    match = re.search(r"://[^:/@]*:([^@]+)@", dsn)
    if match:
        found.append(match.group(1))
    return found


def setup_logging(config: Config) -> JsonFormatter:
    formatter = JsonFormatter(secrets_of(config))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return formatter
