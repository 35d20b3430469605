"""Runyard: record experiments, queue them, run them on agents, rerun any of them."""

__version__ = "0.1.0"

__all__ = ["__version__"]
