"""Curation: ingest, validate, dedupe, score, anonymise, version and export training data.

Headless services used by the CLI (``commands/curation.py``) and the TUI alike.
"""
