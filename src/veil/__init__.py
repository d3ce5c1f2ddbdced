"""Veil: machine learning on encrypted data."""
