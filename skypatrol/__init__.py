"""skypatrol: drone imagery to rectification tasks for city-management squads."""

from skypatrol.errors import (
    InvalidImageryError,
    InvalidRegistryError,
    SkypatrolError,
)

__version__ = "0.1.0"
__all__ = ["InvalidImageryError", "InvalidRegistryError", "SkypatrolError", "__version__"]
