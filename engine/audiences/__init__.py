"""Audiences (SPEC §4.4): filters over profiles, membership with enter and exit times."""
