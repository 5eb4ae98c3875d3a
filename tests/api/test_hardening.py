"""Security headers, CORS, body limits and clean 4xx answers for malformed requests."""

from __future__ import annotations

import httpx
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.support.server import serve_in_thread


def test_security_headers_on_every_answer(api: Api) -> None:
    for response in (api.client.get("/system/health"), api.client.get("/auth/me")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        csp = response.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[]", b"null", b'{"username": ["a"], "password": {}}', b"\xff\xfe\x00"],
)
def test_malformed_bodies_are_4xx_json(api: Api, content: bytes) -> None:
    response = api.client.post(
        "/auth/register", content=content, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert "detail" in response.json() and "Traceback" not in response.text


def test_oversized_body_is_refused_with_413(api: Api) -> None:
    big = {"username": "big", "password": "x" * (3 * 1024 * 1024)}
    response = api.client.post("/auth/register", json=big)
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_oversized_chunked_body_is_refused(api: Api) -> None:
    def chunks():  # no content-length: the limit must count streamed bytes
        for _ in range(40):
            yield b"x" * (100 * 1024)

    response = api.client.post(
        "/auth/register", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_validation_errors_do_not_echo_input(api: Api) -> None:
    response = api.client.post(
        "/auth/register", json={"username": "<script>alert(1)</script>", "password": "p"}
    )
    assert response.status_code == 422 and "<script>" not in response.text


def test_unknown_api_route_is_json_404(api: Api) -> None:
    response = api.client.get("/no/such/route")
    assert response.status_code == 404 and response.json()["detail"] == "Not Found"


def test_cors_only_for_configured_origins(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["http://good.example"]}))
    with serve_in_thread(app) as url:

        def preflight(origin: str) -> httpx.Response:
            return httpx.options(
                f"{url}/api/v1/auth/me",
                headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            )

        assert (
            preflight("http://good.example").headers["access-control-allow-origin"]
            == "http://good.example"
        )
        assert "access-control-allow-origin" not in preflight("http://evil.example").headers


def test_api_docs_are_served_offline(api: Api) -> None:
    page = httpx.get(f"{api.base_url}/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    assert "'unsafe-inline'" in page.headers["content-security-policy"]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static-offline-docs/{asset}" in page.text
        assert httpx.get(f"{api.base_url}/static-offline-docs/{asset}").status_code == 200
    assert httpx.get(f"{api.base_url}/redoc").status_code == 200
    # Everything else keeps the strict policy.
    strict = httpx.get(f"{api.base_url}/").headers["content-security-policy"]
    assert "unsafe-inline" not in strict.split("script-src")[1].split(";")[0]
