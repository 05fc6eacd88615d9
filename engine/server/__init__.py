"""The daemon (SPEC §7): the collect API, durable intake, the processing loop, operations."""
