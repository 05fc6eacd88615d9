"""The daemon (docs/http.md): the collect API, durable intake, the processing loop, operations."""
