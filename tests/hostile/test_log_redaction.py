"""Credentials inside URLs never reach the log.

Found by starting the daemon with `CIO_BASE_URL=http://user:pass@host`: httpx logged every
request's URL, user-info and all. The JSON log formatter now writes the user-info of any URL,
in the message or in a field, as `***@`.
"""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

from engine.exports.sandbox import Sandbox, running_sandbox
from engine.server.logs import JsonFormatter
from tests.server.conftest import start, write_config

USER, PASSWORD = "proxyuser", "s3cr3t-proxy-pass"


def _line(message: str, **fields: object) -> dict[str, object]:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(fields)
    doc: dict[str, object] = json.loads(JsonFormatter().format(record))
    return doc


def test_url_user_info_is_redacted_in_messages_and_fields() -> None:
    doc = _line(f'HTTP Request: POST http://{USER}:{PASSWORD}@127.0.0.1:9/api/v2/batch '
                '"HTTP/1.1 200 OK"',
                url=f"https://{USER}:p@ss@cio.example.com/x",
                dsn=f"postgresql://{USER}:{PASSWORD}@db:5432/cdp",
                nested={"base_url": f"http://{PASSWORD}@proxy"})
    text = json.dumps(doc)
    assert USER not in text and PASSWORD not in text and "ss@cio" not in text
    assert doc["message"] == ('HTTP Request: POST http://***@127.0.0.1:9/api/v2/batch '
                              '"HTTP/1.1 200 OK"')
    assert doc["url"] == "https://***@cio.example.com/x"
    assert doc["dsn"] == "postgresql://***@db:5432/cdp"
    # what only looks like it stays: an address, an @ in a path or a query
    kept = _line("to ana@example.com: http://h/x@y and http://h/?a=b@c")
    assert kept["message"] == "to ana@example.com: http://h/x@y and http://h/?a=b@c"


def test_a_base_url_with_credentials_is_not_logged_by_the_daemon(tmp_path: Path) -> None:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        proxied = url.replace("://", f"://{USER}:{PASSWORD}@", 1)
        config = write_config(
            tmp_path, cio='    site_id: site-1\n    api_key: key-1\n'
                          '    base_url: "${CIO_BASE_URL}"',
            audiences="audiences:\n  - {name: everyone, filter: exists(email)}",
            exports='exports:\n  - {name: to_cio, provider: customerio, authorization: '
                    'cio_main, audience: everyone, id_field: cio_customer_id, '
                    'rate_limit_per_s: 0}')
        daemon = start(config, env={"CIO_BASE_URL": proxied})
        try:
            # The job checks its credentials first: one request to the base URL, logged.
            assert box.wait_for(lambda: len(box.requests()) > 0)
            assert daemon.stop(signal.SIGTERM, timeout=30) == 0
        finally:
            daemon.close()
    logs = daemon.all_logs()
    assert "HTTP Request:" in logs and "***@127.0.0.1" in logs
    assert PASSWORD not in logs and USER not in logs
