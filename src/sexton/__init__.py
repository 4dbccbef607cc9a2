"""Sexton keeps the routine duties of a data archive running."""

__version__ = "0.1.0"
