"""Deployments from ``prefect.yaml``: each flow with its cron schedules and parameters."""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import yaml
from prefect.schedules import Cron

from geodata.errors import InputError


def load_deployments(path: Path | str = "prefect.yaml") -> list[Any]:
    """``RunnerDeployment`` objects for every deployment in the file."""
    p = Path(path)
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
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


def local_api_secret(env: MutableMapping[str, str] | None = None) -> str | None:
    """Protect the Prefect API that ``serve`` starts for itself with a basic-auth secret.

    Without ``PREFECT_API_URL`` the served flows run on a Prefect API this process starts on
    loopback; unprotected, any local user could start a deployment with paths of their
    choice. A random secret (or the one already in ``PREFECT_SERVER_API_AUTH_STRING``) is
    put into this process's environment for the server and its client alike; other users
    cannot read it. Returns the secret, or None when a configured server is used (its own
    authentication applies).
    """
    env = os.environ if env is None else env
    if env.get("PREFECT_API_URL"):
        return None
    secret = env.get("PREFECT_SERVER_API_AUTH_STRING") or \
        f"skypatrol:{secrets.token_urlsafe(24)}"
    env["PREFECT_SERVER_API_AUTH_STRING"] = secret
    env["PREFECT_API_AUTH_STRING"] = secret
    return secret


def serve(path: Path | str = "prefect.yaml") -> None:
    """Register the deployments and run them on their schedules until interrupted."""
    from prefect import serve as prefect_serve
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_SERVER_API_AUTH_STRING,
        temporary_settings,
    )

    deployments = load_deployments(path)
    secret = local_api_secret()
    if secret is None:
        prefect_serve(*deployments)
        return
    with temporary_settings(updates={PREFECT_SERVER_API_AUTH_STRING: secret,
                                     PREFECT_API_AUTH_STRING: secret}):
        prefect_serve(*deployments)
