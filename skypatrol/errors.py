"""The skypatrol exception hierarchy, re-exported for the CLI and scripts (it lives in geodata).

Every layer raises these errors; they sit in ``geodata``, the layer everything else builds
on, so no layer reaches above itself to raise one.
"""

from geodata.errors import (
    CRSError,
    InputError,
    InvalidImageryError,
    InvalidRegistryError,
    Problem,
    SkypatrolError,
)

__all__ = ["CRSError", "InputError", "InvalidImageryError", "InvalidRegistryError", "Problem",
           "SkypatrolError"]
