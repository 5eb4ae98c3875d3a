"""Health and statistics."""

from __future__ import annotations

import httpx

from tests.conftest import Api


def test_health_needs_no_login_and_checks_database(any_db_api: Api) -> None:
    response = any_db_api.client.get("/system/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"


def test_health_stays_in_the_openapi_schema(api: Api) -> None:
    """Health is served by a plain route ahead of the routers; the FastAPI route behind it
    is what documents it (and the web app's generated client)."""
    # Built on first request: seconds on a loaded machine.
    schema = httpx.get(f"{api.base_url}/api/v1/openapi.json", timeout=60).json()
    operation = schema["paths"]["/api/v1/system/health"]["get"]
    assert {"200", "503"} <= set(operation["responses"])
    assert api.client.head("/system/health").status_code == 200


def test_stats_report_machine_and_own_counts(api: Api) -> None:
    admin, user = api.register(), api.register()
    api.client.post("/conversations", json={"title": "one"}, headers=user.headers)
    assert api.client.get("/system/stats").status_code == 401
    mine = api.client.get("/system/stats", headers=user.headers).json()
    assert mine["counts"] == {"conversations": 1, "messages": 0, "runs": 0, "users": None}
    assert mine["system"]["memory_total"] > 0 and mine["system"]["process_rss"] > 0
    assert mine["uptime_seconds"] >= 0
    assert api.client.get("/system/stats", headers=admin.headers).json()["counts"]["users"] == 2
