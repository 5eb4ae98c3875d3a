"""Model connections as data: admins add Ollama and OpenAI-compatible servers (keys sealed
at rest), set per-model settings, and pull Ollama models; the environment seeds the first
connections. The gateway (`orchestrator.llm.gateway`) reads them through `ConnectionStore`.

    store = ConnectionStore(settings, sessions)
    await store.create(ConnectionIn(kind="ollama", name="gpu", base_url="http://gpu:11434"))
    specs, model_settings = await store.specs()
    pull = await start_pull(spec, "llama3.2")      # then: async for line in pull.lines()
"""

from orchestrator.llm.connections._models import (
    ConnectionHealth,
    ConnectionIn,
    ConnectionKind,
    ConnectionOut,
    ConnectionSpec,
    ConnectionUpdate,
    HealthStatus,
    ModelSettings,
    ModelSettingsIn,
    ModelSettingsOut,
    NativeTools,
    PullIn,
    PullProgress,
)
from orchestrator.llm.connections._pull import ModelNotPullable, PullStream, start_pull
from orchestrator.llm.connections._store import ConnectionStore

__all__ = [
    "ConnectionHealth",
    "ConnectionIn",
    "ConnectionKind",
    "ConnectionOut",
    "ConnectionSpec",
    "ConnectionStore",
    "ConnectionUpdate",
    "HealthStatus",
    "ModelNotPullable",
    "ModelSettings",
    "ModelSettingsIn",
    "ModelSettingsOut",
    "NativeTools",
    "PullIn",
    "PullProgress",
    "PullStream",
    "start_pull",
]
