"""The Prefect API that ``skypatrol serve`` starts for itself refuses unauthenticated calls."""

import socket

import httpx
import pytest

from flows.deployments import local_api_secret


def test_a_secret_is_made_only_for_the_local_api():
    env: dict[str, str] = {}
    secret = local_api_secret(env)
    assert secret and env["PREFECT_SERVER_API_AUTH_STRING"] == env["PREFECT_API_AUTH_STRING"]
    assert local_api_secret(dict(env)) == secret  # an existing secret is kept
    assert local_api_secret({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}) is None
    assert local_api_secret({}) != secret  # random each time


@pytest.mark.slow
def test_the_local_api_refuses_calls_without_the_secret(tmp_path, monkeypatch):
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_HOME,
        PREFECT_SERVER_API_AUTH_STRING,
        temporary_settings,
    )

    secret = local_api_secret({})
    assert secret is not None
    with temporary_settings(updates={PREFECT_SERVER_API_AUTH_STRING: secret,
                                     PREFECT_API_AUTH_STRING: secret,
                                     PREFECT_HOME: str(tmp_path)}):
        with socket.socket() as sock:  # a port of its own: not the ephemeral singleton
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = SubprocessASGIServer(port=port)
        server.start(timeout=300)
        try:
            url = f"{server.api_url}/flows/filter"
            assert httpx.post(url, json={}).status_code == 401
            user, _, password = secret.partition(":")
            assert httpx.post(url, json={}, auth=(user, password)).status_code == 200
        finally:
            server.stop()
