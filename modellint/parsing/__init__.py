"""Parsers: bytes on disk → documents with positions for every value."""
