"""Audiences out (SPEC §9.4): export providers, and a local Customer.io stand-in to try them on."""
