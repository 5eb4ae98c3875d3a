"""web_search against a scripted SearXNG-compatible server, web_read on real HTML and PDF,
both on real HTTP servers on 127.0.0.1 and through the SSRF guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import BlockedAddress, ToolError
from orchestrator.tools.base import ToolContext
from orchestrator.tools.registry import ToolRegistry
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import LoopbackServer

ServeFn = Callable[..., LoopbackServer]

ARTICLE = """<!doctype html>
<html><head><title>Growing tomatoes on a balcony</title>
<script>window.tracker = "TRACKER-SCRIPT-TEXT";</script>
<style>.ad { color: red }</style></head>
<body>
<nav><a href="/">Home</a> | <a href="/shop">Shop</a> |
<a href="/login">NAVIGATION-MENU-TEXT</a></nav>
<div class="ad" id="ad-banner">BUY-CHEAP-WATCHES advertisement</div>
<main><article>
<h1>Growing tomatoes on a balcony</h1>
<p>Tomatoes need at least six hours of direct sunlight a day. A south-facing balcony is
ideal, and a pot of at least twenty litres gives the roots room to grow.</p>
<h2>Watering</h2>
<p>Water deeply twice a week rather than a little every day, so that the roots grow down.
Mulch keeps the soil moist between waterings and protects against splashing.</p>
<ul><li>Use a pot with drainage holes.</li><li>Feed every two weeks once fruit sets.</li></ul>
<p>Pinch out side shoots on cordon varieties to keep the plant tidy and productive.</p>
</article></main>
<aside>RELATED-LINKS-SIDEBAR</aside>
<footer>Copyright FOOTER-TEXT 2026</footer>
</body></html>"""


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF with `text`, valid enough for any reader."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _ctx(settings: Settings, **update: object) -> ToolContext:
    workspace = Workspace.for_user(settings, 1)
    return ToolContext(
        user_id=1, workspace=workspace.root, settings=settings.model_copy(update=update)
    )


async def test_web_read_turns_a_page_into_its_main_text(
    registry: ToolRegistry, settings: Settings, serve: ServeFn
) -> None:
    page = serve("", payload=ARTICLE.encode(), headers={"Content-Type": "text/html"})
    ctx = _ctx(settings, http_allowlist=["127.0.0.1"])
    text = await registry.get("web_read")(ctx, {"url": f"{page.url}/article"})
    assert text.startswith("# Growing tomatoes on a balcony")
    assert "six hours of direct sunlight" in text and "Water deeply twice a week" in text
    assert "Use a pot with drainage holes" in text
    for noise in ("TRACKER-SCRIPT-TEXT", "NAVIGATION-MENU-TEXT", "color: red", "FOOTER-TEXT"):
        assert noise not in text


async def test_web_read_extracts_pdf_text(
    registry: ToolRegistry, settings: Settings, serve: ServeFn
) -> None:
    pdf = serve(
        "",
        payload=_pdf("Quarterly revenue rose by 12 percent"),
        headers={"Content-Type": "application/pdf"},
    )
    ctx = _ctx(settings, http_allowlist=["127.0.0.1"])
    text = await registry.get("web_read")(ctx, {"url": f"{pdf.url}/report.pdf"})
    assert "Quarterly revenue rose by 12 percent" in text


async def test_web_read_caps_its_output(
    registry: ToolRegistry, settings: Settings, serve: ServeFn
) -> None:
    long = "<html><body><article>" + "<p>word " * 20_000 + "</article></body></html>"
    page = serve("", payload=long.encode(), headers={"Content-Type": "text/html"})
    ctx = _ctx(settings, http_allowlist=["127.0.0.1"])
    text = await registry.get("web_read")(ctx, {"url": page.url, "max_chars": 1000})
    assert len(text) < 1100 and "truncated at 1000 characters" in text


async def test_web_read_goes_through_the_ssrf_guard(
    registry: ToolRegistry, settings: Settings, secret_server: LoopbackServer
) -> None:
    ctx = _ctx(settings)  # no allowlist: loopback is internal
    for url in (
        secret_server.url,
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ):
        with pytest.raises(ToolError) as caught:
            await registry.get("web_read")(ctx, {"url": url})
        assert "INTERNAL-SECRET" not in caught.value.message
    assert secret_server.requests == []
    with pytest.raises(BlockedAddress):
        await registry.get("web_read")(ctx, {"url": "http://127.0.0.1:1/"})


def _searxng(serve: ServeFn, results: list[dict]) -> LoopbackServer:
    body = json.dumps({"query": "q", "results": results}).encode()
    return serve("", payload=body, headers={"Content-Type": "application/json"})


async def test_web_search_asks_searxng_even_on_loopback(
    registry: ToolRegistry, settings: Settings, serve: ServeFn, secret_server: LoopbackServer
) -> None:
    results = [
        {"title": f"Result {i}", "url": f"https://example.org/{i}", "content": f"snippet {i}"}
        for i in range(8)
    ]
    results.append({"title": "internal", "url": secret_server.url, "content": "not fetched"})
    searx = _searxng(serve, results)
    ctx = _ctx(settings, search_provider="searxng", search_url=searx.url)
    answer = json.loads(
        await registry.get("web_search")(ctx, {"query": "balcony tomatoes", "limit": 3})
    )
    assert [r["title"] for r in answer["results"]] == ["Result 0", "Result 1", "Result 2"]
    assert answer["results"][0] == {
        "title": "Result 0",
        "url": "https://example.org/0",
        "snippet": "snippet 0",
    }
    method, path, _ = searx.requests[0]
    query = parse_qs(urlparse(path).query)
    assert method == "GET" and urlparse(path).path == "/search"
    assert query == {"q": ["balcony tomatoes"], "format": ["json"]}
    assert secret_server.requests == []  # result URLs are listed, never fetched


async def test_web_search_not_configured_says_so(
    registry: ToolRegistry, settings: Settings
) -> None:
    with pytest.raises(ToolError, match="not configured"):
        await registry.get("web_search")(_ctx(settings), {"query": "anything"})


async def test_web_search_explains_a_broken_backend(
    registry: ToolRegistry, settings: Settings, serve: ServeFn
) -> None:
    broken = serve("", payload=b"<html>not json</html>", headers={"Content-Type": "text/html"})
    ctx = _ctx(settings, search_provider="searxng", search_url=broken.url)
    with pytest.raises(ToolError, match="JSON"):
        await registry.get("web_search")(ctx, {"query": "x"})
    with pytest.raises(ToolError, match="bad arguments"):
        await registry.get("web_search")(ctx, {"query": "x", "limit": 50})
