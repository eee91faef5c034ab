"""Deployments from ``prefect.yaml``: each flow with its cron schedules and parameters."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from prefect.schedules import Cron

from skypatrol.errors import InputError


def load_deployments(path: Path | str = "prefect.yaml") -> list[Any]:
    """``RunnerDeployment`` objects for every deployment in the file."""
    p = Path(path)
    try:
        spec = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{p}: cannot read the deployments file ({exc})") from exc
    out = []
    for dep in spec.get("deployments") or []:
        module_path, _, func = str(dep["entrypoint"]).partition(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        schedules = [Cron(s["cron"], timezone=s.get("timezone"))
                     for s in dep.get("schedules", [])]
        out.append(flow.to_deployment(
            name=dep["name"], description=dep.get("description"),
            parameters=dep.get("parameters") or {}, schedules=schedules,
        ))
    if not out:
        raise InputError(f"{p}: no deployments")
    return out


def serve(path: Path | str = "prefect.yaml") -> None:
    """Register the deployments and run them on their schedules until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*load_deployments(path))
