"""Followthrough: durable business workflows on Temporal."""

__version__ = "0.1.0"
