"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.routing import Route

from orchestrator.api import errors, openapi
from orchestrator.api.files import MULTIPART_SLACK
from orchestrator.api.log_masking import install_credential_mask
from orchestrator.api.metrics import metrics_endpoint
from orchestrator.api.middleware import BodySizeLimit, SecurityHeaders, UploadLimit
from orchestrator.api.rate_limit import RateLimit
from orchestrator.api.router import API_PREFIX, api_router
from orchestrator.api.routes import system
from orchestrator.conversations import MAX_FILE_BYTES as CONVERSATION_FILE_BYTES
from orchestrator.core.config import Settings
from orchestrator.core.security import PasswordHasher
from orchestrator.llm.gateway import ModelGateway
from orchestrator.mcp_server import McpEndpoint
from orchestrator.observability import RequestObservation, Tracing
from orchestrator.openai_api import create_openai_app
from orchestrator.runtime import Runtime
from orchestrator.tools.registry import ToolRegistry
from orchestrator.web import mount_web_app


def create_app_from_environment() -> FastAPI:
    """The app of one `serve --workers` process: settings and logging from the
    environment, as the parent process had them."""
    import logging

    from orchestrator.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_format)
    # uvicorn silenced its access logger before this ran; ours (`orchestrator.access`,
    # with the request id) is the only access line, as with one process.
    logging.getLogger("uvicorn.access").propagate = False
    return create_app(settings)


def create_app(
    settings: Settings | None = None,
    *,
    models: ModelGateway | None = None,
    tools: ToolRegistry | None = None,
    hasher: PasswordHasher | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """Build the app; `models`, `tools` and `hasher` replace the default collaborators."""
    settings = settings or Settings()
    install_credential_mask()
    mcp_endpoint = McpEndpoint()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Runtime]]:
        runtime = Runtime.create(
            settings, models=models, tools=tools, hasher=hasher, tracing=tracing
        )
        await runtime.start()
        try:
            yield {"runtime": runtime}
        finally:
            await mcp_endpoint.aclose()
            await runtime.close()

    # Swagger UI and ReDoc served from the package, not a CDN: they work offline.
    app = FastAPIOffline(
        title="AI Orchestrator",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
    )
    errors.install(app)
    openapi.install(app)
    app.include_router(api_router, prefix=API_PREFIX)
    # Health first, as a plain route: what monitors poll skips the walk through the routers.
    app.router.routes.insert(0, Route(f"{API_PREFIX}/system/health", system.health_endpoint))
    app.mount("/v1", create_openai_app())  # OpenAI's paths, at the root as clients expect
    app.router.routes.append(Route("/mcp", mcp_endpoint))
    app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    mount_web_app(app)
    upload = UploadLimit(
        prefix="/api/v1/workspace/files/",
        max_bytes=settings.max_upload_bytes + MULTIPART_SLACK,
        message=f"the upload is over MAX_UPLOAD_MB ({settings.max_upload_mb} MB)",
    )
    documents = UploadLimit(
        prefix="/api/v1/knowledge/",
        suffix="/documents",
        method="POST",
        max_bytes=settings.max_upload_bytes + MULTIPART_SLACK,
        message=f"the upload is over MAX_UPLOAD_MB ({settings.max_upload_mb} MB)",
    )
    # Webhook bodies: the hook route counts them itself (1 MB), so it can log each refusal.
    hooks = UploadLimit(
        prefix="/api/v1/hooks/", method="POST", max_bytes=2**62, message="body too large"
    )
    imports = UploadLimit(
        prefix="/api/v1/conversations/import",
        method="POST",
        max_bytes=CONVERSATION_FILE_BYTES,
        message=f"the file is over {CONVERSATION_FILE_BYTES // (1024 * 1024)} MB",
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        upload=upload,
        uploads=(documents, hooks, imports),
    )
    app.add_middleware(RateLimit)
    app.add_middleware(SecurityHeaders)
    # The request id next: every answer, even a refusal by the middleware above, names it.
    app.add_middleware(RequestObservation, metrics=settings.metrics)
    # Outermost: every answer, a 429 or 413 from the layers above included, carries the
    # CORS headers a browser needs to read it.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Conversation-Id", "X-CSRF-Token"],
            # `/v1` answers carry the first two, every answer the last.
            expose_headers=["X-Conversation-Id", "X-Run-Id", "X-Request-ID"],
        )
    return app
