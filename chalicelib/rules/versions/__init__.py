"""Dated rule versions: one reviewed TOML file each (docs/rule-versions.md). Loaded by rules/config.py load_book.

`python -m chalicelib.rules.versions` prints the [digests] table for the files as they are, to record a new one.
"""
