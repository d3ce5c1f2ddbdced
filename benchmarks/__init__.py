"""Veil's benchmark suite (``make bench``)."""
