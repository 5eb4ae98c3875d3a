"""The route modules' `APIRouter`, which turns away a request for another module at once.

FastAPI keeps included routers as a tree and matches a request by walking it: every route
of every router included before the right one is tried in turn, with its context set up
and torn down. Under `/api/v1` the first path segment already says which routers can
match (`/system/health` only the system router's), so each router checks that first.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

API_PREFIX = "/api/v1/"


class ApiRouter(APIRouter):
    """`APIRouter` with the first-segment check; routes under a path parameter as first
    segment (none today) turn the check off for their router."""

    _segments: frozenset[str] | None
    _segments_of: int = -1  # len(routes) the segments were computed for

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._segments_of != len(self.routes):
            self._segments = _first_segments(self)
            self._segments_of = len(self.routes)
        if self._segments is not None:
            path = get_route_path(scope)
            if path.startswith(API_PREFIX):
                first = path[len(API_PREFIX) :].split("/", 1)[0]
                if first not in self._segments:
                    return Match.NONE, {}
        return super().matches(scope)


def _first_segments(router: APIRouter) -> frozenset[str] | None:
    segments = set()
    for route in router.routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return None
        first = path.lstrip("/").split("/", 1)[0]
        if "{" in first or not first:
            return None
        segments.add(first)
    return frozenset(segments)
