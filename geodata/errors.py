"""The skypatrol exception hierarchy: one root, each subclass also a fitting stdlib type."""

from __future__ import annotations

from dataclasses import dataclass


class SkypatrolError(Exception):
    """Root of every error skypatrol raises on purpose."""


class InputError(SkypatrolError, ValueError):
    """Bad user input: the CLI maps it to exit status 2."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input, located as precisely as possible.

    Attributes:
        source: the file (or URL) the problem is in.
        message: what is wrong and, where useful, what to do about it.
        layer: the GeoPackage layer, if any.
        column: the column, if any.
        feature: the feature's id (its id column value, or ``fid N``), if any.

    """

    source: str
    message: str
    layer: str | None = None
    column: str | None = None
    feature: str | None = None

    def __str__(self) -> str:
        where = [self.source]
        if self.layer:
            where.append(f"layer '{self.layer}'")
        if self.column:
            where.append(f"column '{self.column}'")
        if self.feature:
            where.append(f"feature {self.feature}")
        return f"{', '.join(where)}: {self.message}"


class InvalidRegistryError(InputError):
    """The parcel registry breaks the contract's schema; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid parcel registry ({len(self.problems)} problem(s)):\n{lines}")


class InvalidImageryError(InputError):
    """An imagery file cannot be used (corrupt, no georeferencing, not an image)."""


class CRSError(InputError):
    """A CRS is missing, geographic where metres are needed, or mismatched."""
