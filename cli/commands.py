"""The `cli` group with every command registered (kept for callers that import it from here)."""
from .main import cli

__all__ = ["cli"]
