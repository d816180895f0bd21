"""REST with authentication on: 401/403/429 on every API route, open probes and page, rotation and
revocation while the gateway runs, quotas under concurrent requests from one key, no secrets in answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_support import POLL_S, add_key, bearer, keys, seconds_until

from service.auth.access import AccessControl
from service.core.classifier import Classifier
from service.gateway import Gateway
from service.metrics import Metrics
from service.rest.app import create_app
from service.rest.server import RestServer
from service.settings import AuthSettings

PROBLEM = "application/problem+json"
TEXT_BODY = {"instances": [{"text": "hello there"}]}

#: Every API route with concrete values; a route missing here fails ``test_every_api_route_is_listed``.
API_ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("get", "/v1/models", "/v1/models", None),
    ("get", "/v1/models/{name}", "/v1/models/tiny-text", None),
    ("post", "/v1/models/{name}:classify", "/v1/models/tiny-text:classify", TEXT_BODY),
    ("post", "/v1/models/{name}/versions/{version}:classify", "/v1/models/tiny-text/versions/1:classify", TEXT_BODY),
    ("post", "/v1/models/{name}/labels/{label}:classify", "/v1/models/tiny-text/labels/stable:classify", TEXT_BODY),
]
ROUTE_IDS = [f"{method} {template}" for method, template, _, _ in API_ROUTES]
#: Admin routes (the rollout control; tests/service/rollout checks their keys), listed but not in API_ROUTES.
ADMIN_ROUTES = {
    ("get", "/v1/models/{name}/rollout"),
    ("post", "/v1/models/{name}/rollout:start"),
    ("post", "/v1/models/{name}/rollout:promote"),
    ("post", "/v1/models/{name}/rollout:rollback"),
}


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any, key: str | None) -> httpx.Response:
    headers = bearer(key) if key is not None else {}
    if body is None:
        return await client.request(method.upper(), path, headers=headers)
    return await client.request(method.upper(), path, json=body, headers=headers)


def assert_refusal(response: httpx.Response, status: int, slug: str, *secrets: str) -> None:
    """A problem+json refusal of this kind that echoes no key and no server internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:classifier:problem:{slug}"
    assert body["status"] == status
    for secret in secrets:
        assert secret not in response.text
    assert "Traceback" not in response.text and "keys.json" not in response.text


async def test_every_api_route_is_listed(rest: httpx.AsyncClient) -> None:
    document = (await rest.get("/openapi.json")).json()
    served = {(method, path) for path, item in document["paths"].items() if path.startswith("/v1/") for method in item}

    assert served == {(method, template) for method, template, _, _ in API_ROUTES} | ADMIN_ROUTES


@pytest.mark.parametrize(("method", "template", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
async def test_api_route_without_key_is_401_with_challenge(
    rest: httpx.AsyncClient, method: str, template: str, path: str, body: Any
) -> None:
    response = await call(rest, method, path, body, None)

    assert_refusal(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "template", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
async def test_api_route_with_wrong_key_is_401(
    rest: httpx.AsyncClient, classify_key: str, method: str, template: str, path: str, body: Any
) -> None:
    wrong_secret = classify_key[:-4] + ("AAAA" if not classify_key.endswith("AAAA") else "BBBB")
    for key in (wrong_secret, "csk_000000000000_" + "x" * 43, "not-a-key", classify_key + "x"):
        response = await call(rest, method, path, body, key)
        assert_refusal(response, 401, "unauthenticated", key)
    basic = await rest.request(method.upper(), path, json=body, headers={"Authorization": f"Basic {classify_key}"})
    assert_refusal(basic, 401, "unauthenticated", classify_key)


@pytest.mark.parametrize(("method", "template", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
async def test_api_route_with_key_lacking_scope_is_403(
    rest: httpx.AsyncClient, admin_key: str, method: str, template: str, path: str, body: Any
) -> None:
    response = await call(rest, method, path, body, admin_key)

    assert_refusal(response, 403, "permission-denied", admin_key)
    assert "classify" in response.json()["detail"]


@pytest.mark.parametrize(("method", "template", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
async def test_api_route_with_classify_key_answers(
    rest: httpx.AsyncClient, classify_key: str, method: str, template: str, path: str, body: Any
) -> None:
    response = await call(rest, method, path, body, classify_key)

    assert response.status_code == 200, response.text
    assert classify_key not in response.text
    if method == "post":
        assert response.json()["model"] == "tiny-text"
        assert len(response.json()["predictions"]) == 1


async def test_scheme_is_case_insensitive(rest: httpx.AsyncClient, classify_key: str) -> None:
    response = await rest.get("/v1/models", headers={"Authorization": f"bearer {classify_key}"})

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/", "/ui/app.js", "/openapi.json", "/docs"])
async def test_probes_page_and_docs_are_open(rest: httpx.AsyncClient, path: str) -> None:
    response = await rest.get(path)

    assert response.status_code == 200, response.text


async def test_unknown_path_needs_a_key_before_it_is_404(rest: httpx.AsyncClient, classify_key: str) -> None:
    # Without a key nothing tells which paths exist.
    assert_refusal(await rest.get("/internal/anything"), 401, "unauthenticated")
    assert (await rest.get("/internal/anything", headers=bearer(classify_key))).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/..%2F..%2Fetc%2Fpasswd",
        "/v1/models/" + "n" * 5000,
        "/v1/models/%00",
        "/v1/models/tiny-text/versions/notanumber:classify",
        "/v1/models/tiny-text/labels/%E2%98%83:classify",
    ],
)
async def test_bad_names_behind_auth_are_clean_4xx(rest: httpx.AsyncClient, classify_key: str, path: str) -> None:
    method = "POST" if path.endswith(":classify") else "GET"
    response = await rest.request(method, path, json=TEXT_BODY, headers=bearer(classify_key))

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "Traceback" not in response.text and str(Path.cwd()) not in response.text


async def test_revoked_key_stops_within_seconds(rest: httpx.AsyncClient, keys_file: Path) -> None:
    key = add_key(keys_file, "leaver", "classify")
    await seconds_until(lambda: _status_is(rest, key, 200))

    keys("revoke", "--file", str(keys_file), "--name", "leaver")
    took = await seconds_until(lambda: _status_is(rest, key, 401))

    print(f"revoked key refused {took:.2f} s after `revoke` (poll interval {POLL_S} s)")
    assert "leaver" not in keys("list", "--file", str(keys_file))


async def test_rotated_key_replaces_the_old_one(rest: httpx.AsyncClient, keys_file: Path) -> None:
    old = add_key(keys_file, "rotating", "classify")
    await seconds_until(lambda: _status_is(rest, old, 200))

    new = keys("rotate", "--file", str(keys_file), "--name", "rotating")
    took = await seconds_until(lambda: _status_is(rest, new, 200))

    assert new != old
    assert (await rest.get("/v1/models", headers=bearer(old))).status_code == 401
    print(f"rotated key accepted {took:.2f} s after `rotate`; the old one refused")


async def test_corrupt_keys_file_keeps_the_last_good_keys(
    rest: httpx.AsyncClient, keys_file: Path, classify_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = keys_file.read_text()
    try:
        keys_file.write_text('{"version": 1, "keys": [{"name": "half-writ')
        await asyncio.sleep(POLL_S * 4)

        assert (await rest.get("/v1/models", headers=bearer(classify_key))).status_code == 200
        assert any("keeping the" in r.getMessage() for r in caplog.records)
    finally:
        keys_file.write_text(good)
    fresh = add_key(keys_file, "after-repair", "classify")
    await seconds_until(lambda: _status_is(rest, fresh, 200))


async def test_quota_holds_under_concurrent_requests_from_one_key(rest: httpx.AsyncClient, keys_file: Path) -> None:
    key = add_key(keys_file, "bursty", "classify", rate=0.05, burst=5)
    await seconds_until(lambda: _status_is(rest, key, 200))  # takes one token
    await asyncio.sleep(0)

    responses = await asyncio.gather(*(rest.get("/v1/models", headers=bearer(key)) for _ in range(24)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 4 and statuses.count(429) == 20, statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert_refusal(refused, 429, "quota-exceeded", key)
    assert 1 <= int(refused.headers["retry-after"]) <= 20  # one token at 0.05/s: at most 20 s away


async def test_quota_of_one_key_leaves_others_alone(
    rest: httpx.AsyncClient, keys_file: Path, classify_key: str
) -> None:
    key = add_key(keys_file, "tiny-quota", "classify", rate=0.01, burst=1)
    await seconds_until(lambda: _status_is(rest, key, 200))

    assert (await rest.get("/v1/models", headers=bearer(key))).status_code == 429
    assert (await rest.get("/v1/models", headers=bearer(classify_key))).status_code == 200


async def test_key_is_never_logged(rest: httpx.AsyncClient, keys_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = add_key(keys_file, "quiet", "admin", rate=0.01, burst=1)
    await seconds_until(lambda: _status_is(rest, key, 403))
    await rest.get("/v1/models", headers=bearer(key[:-1]))

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "quiet" in logged  # the name is what logs show
    assert key not in logged and key.split("_", 2)[2] not in logged


@asynccontextmanager
async def second_server(gateway: Gateway, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another REST server over the same backend and keys file, with changed settings."""
    settings = gateway.settings.model_copy(update=changes)
    metrics = Metrics()
    classifier = Classifier(settings, gateway.backend, metrics)
    access = None
    if settings.auth.keys_file is not None:
        access = AccessControl(settings.auth.keys_file, poll_interval_s=POLL_S)
    server = RestServer(
        create_app(settings, classifier, metrics, access=access), "127.0.0.1", 0, graceful_timeout_s=5, access_log=False
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        await server.stop()
        classifier.close()


async def test_settings_can_close_probes_and_metrics(gateway: Gateway, classify_key: str) -> None:
    auth = AuthSettings(keys_file=gateway.settings.auth.keys_file, open_paths=[])
    async with second_server(gateway, auth=auth) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert_refusal(await client.get(path), 401, "unauthenticated")
            assert (await client.get(path, headers=bearer(classify_key))).status_code in (200, 503)
        assert (await client.get("/")).status_code == 200  # the page still loads, to ask for a key


async def test_cors_is_off_by_default(rest: httpx.AsyncClient) -> None:
    preflight = await rest.options(
        "/v1/models", headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
    )
    simple = await rest.get("/healthz", headers={"Origin": "https://elsewhere.example"})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allow_list_admits_only_its_origins(gateway: Gateway, classify_key: str) -> None:
    async with second_server(gateway, cors_origins=["https://app.example"]) as client:
        allowed = await client.options(
            "/v1/models",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        other = await client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
        answered = await client.get("/v1/models", headers={"Origin": "https://app.example", **bearer(classify_key)})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert answered.headers["access-control-allow-origin"] == "https://app.example"


async def test_keys_file_stores_no_key(keys_file: Path, classify_key: str) -> None:
    text = keys_file.read_text()
    document = json.loads(text)

    assert classify_key not in text and classify_key.split("_", 2)[2] not in text
    assert {e["name"] for e in document["keys"]} >= {"reader", "operator"}
    assert keys_file.stat().st_mode & 0o077 == 0


async def _status_is(client: httpx.AsyncClient, key: str, status: int) -> bool:
    return (await client.get("/v1/models", headers=bearer(key))).status_code == status
