"""The web app's TypeScript types (`frontend/src/api/schema.d.ts`) are generated from the
backend's OpenAPI schema, the socket messages included: a model changed without
regenerating them fails here (`cd frontend && npm run gen:api` fixes it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_service

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def test_generated_typescript_types_match_the_backend_schema() -> None:
    node = shutil.which("node")
    generator = FRONTEND / "node_modules" / "openapi-typescript"
    require_service(
        "Node.js with the web app's packages (npm ci)", bool(node) and generator.is_dir()
    )
    assert node is not None
    done = subprocess.run(
        [node, "scripts/gen-api.mjs", "--check"],
        cwd=FRONTEND,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr or done.stdout
    assert "is up to date" in done.stdout
