"""Registers every command on the `cli` group (importing a module defines its commands)."""
from . import analysis, data, pipeline  # noqa: F401
from . import explore  # noqa: F401  (gpuclust explore, gpuclust name)
from .main import cli

__all__ = ["cli"]
