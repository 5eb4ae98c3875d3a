"""Pydantic models for what crosses the HTTP and WebSocket boundary."""
