"""get_datetime and get_system_info: the facts they give, and what they keep to themselves."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest

from orchestrator.core.errors import ToolArgumentError
from tests.tools.conftest import ToolCall


async def test_get_datetime_answers_in_the_requested_zone(call: ToolCall) -> None:
    answer = json.loads(await call("get_datetime", timezone="Asia/Kolkata"))
    assert answer["timezone"] == "Asia/Kolkata" and answer["utc_offset"] == "+0530"
    assert answer["offset_hours"] == 5.5
    parsed = datetime.fromisoformat(answer["iso"])
    assert abs(parsed.timestamp() - answer["unix"]) < 1
    assert answer["weekday"] == parsed.strftime("%A")


async def test_get_datetime_defaults_to_the_server_zone(call: ToolCall) -> None:
    answer = json.loads(await call("get_datetime"))
    assert abs(datetime.now().timestamp() - answer["unix"]) < 5


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "UTC\n"])
async def test_get_datetime_refuses_unknown_or_path_like_zones(call: ToolCall, zone: str) -> None:
    with pytest.raises(ToolArgumentError):
        await call("get_datetime", timezone=zone)


@pytest.mark.parametrize(
    "zone", ["America", "Europe", "Etc", "right", "posix", "Factory/x", "leapseconds"]
)
async def test_get_datetime_answers_a_clear_error_for_a_region_or_a_data_file(
    call: ToolCall, zone: str
) -> None:
    """'America' is a folder of zones, not one: a clear error for the model, never a crash."""
    with pytest.raises(ToolArgumentError, match="unknown time zone"):
        await call("get_datetime", timezone=zone)


async def test_get_datetime_suggests_the_zones_of_a_region(call: ToolCall) -> None:
    with pytest.raises(ToolArgumentError, match="America/"):
        await call("get_datetime", timezone="America")


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"])
async def test_get_datetime_accepts_real_zones(call: ToolCall, zone: str) -> None:
    assert json.loads(await call("get_datetime", timezone=zone))["timezone"] == zone


async def test_get_system_info_reports_public_facts_only(
    call: ToolCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_TEST_SECRET", "env-secret-value")
    raw = await call("get_system_info")
    info = json.loads(raw)
    assert info["cpu_count"] >= 1 and info["memory_total_mib"] > 0
    assert info["os"] == "Linux" and info["command_sandbox"] in ("bwrap", "unavailable")
    assert "env-secret-value" not in raw
    assert socket.gethostname() not in raw
