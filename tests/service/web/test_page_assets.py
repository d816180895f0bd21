"""The page as files over HTTP: served at / and /ui/, self-contained, locked to this gateway by its CSP."""

from __future__ import annotations

import re

import httpx

from service.web import STATIC_DIR

ASSET_TYPES = {
    "app.js": "javascript",
    "api.js": "javascript",
    "apikey.js": "javascript",
    "chart.js": "javascript",
    "recorder.js": "javascript",
    "rollout.js": "javascript",
    "recorder-worklet.js": "javascript",
    "wav.js": "javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}


def test_index_served_at_root_with_strict_csp(api: httpx.Client) -> None:
    response = api.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "https:" not in policy and "http:" not in policy
    assert "<title>Try the classifiers</title>" in response.text


def test_index_refers_only_to_relative_assets(api: httpx.Client) -> None:
    html = api.get("/").text

    references = re.findall(r'(?:src|href)="([^"]*)"', html)

    assert references, "the page refers to its assets"
    assert all(ref.startswith("ui/") for ref in references), references
    for ref in references:
        assert api.get("/" + ref).status_code == 200, ref


def test_assets_served_with_their_types(api: httpx.Client) -> None:
    for name, kind in ASSET_TYPES.items():
        response = api.get(f"/ui/{name}")

        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], (name, response.headers["content-type"])
        assert response.content == (STATIC_DIR / name).read_bytes()


def test_assets_name_no_outside_address() -> None:
    shipped = {path.name for path in STATIC_DIR.iterdir()}
    assert shipped == {*ASSET_TYPES, "index.html"}, "every shipped file is checked here"

    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")

        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name
        assert "@import" not in text and "@font-face" not in text, path.name


def test_unknown_asset_is_404(api: httpx.Client) -> None:
    assert api.get("/ui/nope.js").status_code == 404
