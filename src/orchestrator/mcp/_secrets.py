"""The MCP client's secrets at rest: the shared AES-GCM box (`orchestrator.core.secrets`)."""

from orchestrator.core.secrets import SecretBox, SecretUnreadable

__all__ = ["SecretBox", "SecretUnreadable"]
