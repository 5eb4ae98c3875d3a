"""AI Orchestrator: a self-hosted platform for AI agents on local models."""

import sys

# httpx 0.28 imports its own command line (`httpx._main`, and with it click, pygments'
# lexer table and rich's syntax and progress) on `import httpx` whenever those are
# installed, as they are here: about 90 ms of CPU at every start of `serve`, for a CLI that
# runs in its own process. Marked absent, `import httpx` takes its fallback (httpx2, the
# maintained fork, imports it lazily for the same reason). Nothing here calls `httpx.main`.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
