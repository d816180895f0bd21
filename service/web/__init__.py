"""The page to try the classifiers in a browser: static files that the gateway serves beside its API.

``mount(app)`` serves ``index.html`` at ``/`` and the assets under ``/ui/``. The page is plain HTML, CSS
and JavaScript modules (no framework, no build step) and talks only to the public REST API, with
relative URLs, so it also works behind a path prefix. A strict Content-Security-Policy keeps it from
loading anything that is not on this gateway.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PREFIX", "CONTENT_SECURITY_POLICY", "STATIC_DIR", "mount"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PREFIX = "/ui"

#: Only this gateway: scripts, styles, fetches and the worklet from 'self'; previews of chosen files from blob:.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
    # The microphone only for this page itself; nothing else it could be asked for.
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


def mount(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/ui/`` on ``app``."""

    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)

    app.add_api_route("/", page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui")
