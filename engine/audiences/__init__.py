"""Audiences (docs/audiences.md): filters over profiles, membership with enter and exit times."""
