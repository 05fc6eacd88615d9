"""Audiences out (docs/exports.md): export providers, and a local Customer.io stand-in to try them
on."""
