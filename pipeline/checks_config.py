"""``--config CHECKS.toml``: the survey's tolerances and checks, set by the analyst.

```toml
[diff]        # pipeline.diff.DiffConfig: tolerances of the registry diff and its image checks
min_violation_m2 = 5.0
min_shadow_ratio = 0.5

[quality]     # pipeline.quality.QualityConfig: the image-quality gate
min_sharpness = 2.5

[ingest]
max_skip_ratio = 0.3

[checks]      # pipeline.checks.CHECKS: a named check switched on or off
shadow = true          # off by default (diff.DEFAULT_OFF), like roof_colour
board_shape = false
```

Every key must be a field of its section's config (under ``[checks]``, a check's name with
``true`` or ``false``); a wrong key, type or value is an input error naming the file, the
section and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from geodata.errors import InputError
from pipeline.checks import CHECKS
from pipeline.diff import DiffConfig
from pipeline.ingest import IngestConfig
from pipeline.quality import QualityConfig

SECTIONS = ("diff", "quality", "ingest", "checks")


def _section(path: Path, name: str, cls: Any, values: Any) -> Any:
    if not isinstance(values, dict):
        raise InputError(f"{path}: [{name}] must be a table of settings")
    defaults = cls()
    # the settable ones: numbers and switches (nested configs have sections of their own)
    fields = {f.name for f in dataclasses.fields(cls)
              if isinstance(getattr(defaults, f.name), int | float)}
    for key, value in values.items():
        if key not in fields:
            raise InputError(f"{path}: [{name}] has no setting '{key}' (known: "
                             f"{', '.join(sorted(fields))})")
        default = getattr(defaults, key)
        wrong_kind = isinstance(default, bool) != isinstance(value, bool) or (
            isinstance(default, int) and not isinstance(value, int))
        if wrong_kind or not isinstance(value, int | float):
            raise InputError(f"{path}: [{name}] {key} = {value!r}: expected a number like "
                             f"{default!r}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: [{name}]: {exc}") from exc


def _checks_off(path: Path, values: Any, default: frozenset[str]) -> frozenset[str]:
    """The checks off after a ``[checks]`` table: ``name = false`` off, ``name = true`` on.

    Checks the table does not name keep their ``default``.
    """
    if not isinstance(values, dict):
        raise InputError(f"{path}: [checks] must be a table of check = true/false")
    for key, value in values.items():
        if key not in CHECKS:
            raise InputError(f"{path}: [checks] has no check '{key}' (known: "
                             f"{', '.join(CHECKS)})")
        if not isinstance(value, bool):
            raise InputError(f"{path}: [checks] {key} = {value!r}: expected true or false")
    return (default | {k for k, v in values.items() if not v}) - {
        k for k, v in values.items() if v}


def load_checks(path: Path | str | None, ingest: IngestConfig | None = None
                ) -> tuple[DiffConfig, IngestConfig]:
    """The diff config and ingest policy of a CHECKS.toml (defaults where it is silent).

    ``ingest`` is the policy the command line already set (skip ratio, placement); the file's
    ``[ingest]`` and ``[quality]`` settings are laid over it.
    """
    base = ingest or IngestConfig()
    if path is None:
        return DiffConfig(), base
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: --config file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{p}: not a readable TOML file ({exc})") from exc
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise InputError(f"{p}: unknown section(s) {', '.join(unknown)} (known: "
                         f"{', '.join(SECTIONS)})")
    diff = _section(p, "diff", DiffConfig, data.get("diff", {}))
    diff = dataclasses.replace(diff, off=_checks_off(p, data.get("checks", {}), diff.off))
    quality = _section(p, "quality", QualityConfig, data.get("quality", {}))
    ingest_values = data.get("ingest", {})
    _section(p, "ingest", IngestConfig, ingest_values)
    policy = dataclasses.replace(base, quality=quality, **ingest_values)
    return diff, policy
