"""Purpose-built tools of the suite, where a real one would not answer the same twice
(weather, orders) or where the suite needs nested and enum arguments. They are real
`Tool`s, validated like any other, and keep their state in the throwaway workspace."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import ToolError
from orchestrator.tools.base import Risk, Tool, ToolContext, tool

WEATHER = {
    "oslo": {"city": "Oslo", "temperature_c": -3, "sky": "snow"},
    "lyon": {"city": "Lyon", "temperature_c": 11, "sky": "rain"},
    "cairo": {"city": "Cairo", "temperature_c": 27, "sky": "sunny"},
    "lima": {"city": "Lima", "temperature_c": 19, "sky": "overcast"},
}
ORDERS = {
    4417: {"order_id": 4417, "status": "shipped", "ship_to": "Lyon", "items": 3},
    5521: {"order_id": 5521, "status": "processing", "ship_to": "Cairo", "items": 1},
    9003: {"order_id": 9003, "status": "delivered", "ship_to": "Lima", "items": 2},
}
FLAKY_ORDER = 9003  # its first lookup fails: the suite's error-recovery task
OUTBOX = ".eval/outbox.json"


def _append(ctx: ToolContext, record: dict[str, object]) -> None:
    path = ctx.workspace / OUTBOX
    path.parent.mkdir(parents=True, exist_ok=True)
    items = json.loads(path.read_text()) if path.exists() else []
    items.append(record)
    path.write_text(json.dumps(items))


def outbox(workspace_root: object) -> list[dict[str, object]]:
    """What the action tools (events, thermostat, tickets) recorded in a workspace."""
    from pathlib import Path

    path = Path(str(workspace_root)) / OUTBOX
    return json.loads(path.read_text()) if path.exists() else []


@tool(category="eval", risk=Risk.SAFE)
async def get_weather(
    ctx: ToolContext,
    city: Annotated[str, Field(description="City name only, e.g. 'Paris'", max_length=100)],
    unit: Annotated[
        Literal["celsius", "fahrenheit"], Field(description="Temperature unit")
    ] = "celsius",
) -> dict[str, object]:
    """The current weather in a city: temperature and sky."""
    found = WEATHER.get(city.strip().lower())
    if found is None:
        known = ", ".join(str(w["city"]) for w in WEATHER.values())
        raise ToolError(f"unknown city {city!r}; known cities: {known}")
    temperature = found["temperature_c"]
    assert isinstance(temperature, int)
    if unit == "fahrenheit":
        return {**found, "temperature_f": round(temperature * 9 / 5 + 32, 1)}
    return found


@tool(category="eval", risk=Risk.READ)
async def lookup_order(
    ctx: ToolContext,
    order_id: Annotated[int, Field(description="The order number", ge=1, le=99_999)],
) -> dict[str, object]:
    """Look up a customer order by its number: status, destination city, item count."""
    if order_id == FLAKY_ORDER:
        marker = ctx.workspace / ".eval" / f"order-{order_id}-tried"
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            raise ToolError("the order service is busy (temporary error); try the same call again")
    found = ORDERS.get(order_id)
    if found is None:
        raise ToolError(f"no order {order_id}")
    return found


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Annotated[str, Field(description="YYYY-MM-DD", pattern=r"^\d{4}-\d{2}-\d{2}$")]
    time: Annotated[str, Field(description="HH:MM, 24-hour", pattern=r"^\d{2}:\d{2}$")]


@tool(category="eval", risk=Risk.WRITE)
async def create_event(
    ctx: ToolContext,
    title: Annotated[str, Field(description="The event's title", max_length=200)],
    when: Annotated[When, Field(description="Date and start time")],
    attendees: Annotated[
        list[Annotated[str, Field(max_length=200)]],
        Field(description="Attendees' email addresses", max_length=20),
    ],
    priority: Annotated[
        Literal["low", "normal", "high"], Field(description="How important it is")
    ] = "normal",
) -> str:
    """Put an event in the user's calendar."""
    _append(
        ctx,
        {
            "tool": "create_event",
            "title": title,
            "when": when.model_dump(),
            "attendees": attendees,
            "priority": priority,
        },
    )
    return f"event {title!r} created on {when.date} at {when.time}"


@tool(category="eval", risk=Risk.WRITE)
async def set_thermostat(
    ctx: ToolContext,
    room: Annotated[str, Field(description="The room, e.g. 'kitchen'", max_length=100)],
    target: Annotated[int, Field(description="Target temperature in whole degrees C", ge=5, le=30)],
    mode: Annotated[Literal["heat", "cool", "off"], Field(description="Heating mode")],
) -> str:
    """Set a room's thermostat: target temperature and mode."""
    _append(ctx, {"tool": "set_thermostat", "room": room, "target": target, "mode": mode})
    return f"{room}: {mode}, target {target} C"


class Assignee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(description="Person's name", max_length=100)]
    team: Annotated[Literal["backend", "frontend", "ops"], Field(description="Their team")]


@tool(category="eval", risk=Risk.WRITE)
async def create_ticket(
    ctx: ToolContext,
    title: Annotated[str, Field(description="Short summary", max_length=200)],
    assignee: Annotated[Assignee, Field(description="Who will work on it")],
    labels: Annotated[
        list[Annotated[str, Field(max_length=50)]], Field(description="Labels", max_length=10)
    ] = [],  # noqa: B006 - pydantic copies defaults
) -> str:
    """Open an issue ticket in the team's tracker and assign it."""
    _append(
        ctx,
        {
            "tool": "create_ticket",
            "title": title,
            "assignee": assignee.model_dump(),
            "labels": labels,
        },
    )
    return f"ticket {title!r} assigned to {assignee.name} ({assignee.team})"


EVAL_TOOLS: tuple[Tool, ...] = (
    get_weather,
    lookup_order,
    create_event,
    set_thermostat,
    create_ticket,
)
