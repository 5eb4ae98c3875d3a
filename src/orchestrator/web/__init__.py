"""Serving the built web app: files from `static/`, `index.html` for client-side routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>AI Orchestrator</title>
<p>The web app is not built yet: run <code>make run</code> (it builds <code>frontend/</code>).
The API is up: see <a href="/docs">/docs</a>.</p>"""


def mount_web_app(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve the SPA at `/`; unknown paths get `index.html` except under /api and /assets."""
    index = static_dir / "index.html"
    # Top-level files (favicon, robots.txt...) known at start-up: no path from a request is
    # ever joined onto the file system.
    top_files = {p.name: p for p in static_dir.glob("*") if p.is_file()}
    has_index = "index.html" in top_files
    if (static_dir / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=static_dir / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str) -> Response:
        if path == "api" or path.startswith(("api/", "assets/")):
            return JSONResponse({"detail": "Not Found", "code": "http_error"}, status_code=404)
        if path in top_files:
            return FileResponse(top_files[path])
        if has_index:
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_NOT_BUILT)
