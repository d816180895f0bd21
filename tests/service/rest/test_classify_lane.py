"""The classify lane: POSTs to the classify routes reach their endpoints without the router; the rest do not.

A small app in process (ASGI transport): what is tested is the lane's dispatch and its error answers,
which the gateway-level tests cover end to end over a socket (every classify test goes through it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from rest_support import assert_problem
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.errors import ModelNotFound
from service.rest.classify_lane import ClassifyLane
from service.rest.problems import ErrorBoundaryMiddleware, install_problem_handlers


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/models/{name}:classify")
    async def classify(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "missing":
            raise ModelNotFound(f"no model {name!r}")
        if name == "invalid":
            raise RequestValidationError([{"loc": ("query", "top_k"), "msg": "too small", "type": "greater_than"}])
        if name == "broken":
            raise RuntimeError("a bug")
        return Response(f"{name}:{(await request.body()).decode()}", media_type="text/plain")

    @router.post("/v1/models/{name}/versions/{version}:classify")
    async def classify_version(request: Request) -> Response:
        return Response(f"{request.path_params['name']}@{request.path_params['version']}", media_type="text/plain")

    return router


class RouterCalls:
    """The app behind the lane: counts what reaches it, and answers 418 so a test can tell."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await Response(status_code=418)(scope, receive, send)


def _routes() -> list[APIRoute]:
    return [r for r in _router().routes if isinstance(r, APIRoute)]


@pytest.fixture
async def lane_client() -> AsyncIterator[tuple[httpx.AsyncClient, RouterCalls]]:
    behind = RouterCalls()
    app = ErrorBoundaryMiddleware(ClassifyLane(behind, routes=_routes()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lane") as http:
        yield http, behind


async def test_a_classify_post_is_served_by_its_endpoint_without_the_app_behind(
    lane_client: tuple[httpx.AsyncClient, RouterCalls],
) -> None:
    http, behind = lane_client
    answer = await http.post("/v1/models/spam:classify", content=b"hello")
    assert answer.status_code == 200
    assert answer.text == "spam:hello"
    pinned = await http.post("/v1/models/spam/versions/3:classify")
    assert pinned.status_code == 200
    assert pinned.text == "spam@3"
    assert behind.paths == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models/spam:classify"),  # the router's 405
        ("POST", "/v1/models/spam:predict"),
        ("POST", "/v1/models/a/b:classify"),  # a name holds no "/"
        ("POST", "/v1/models/spam:classify/extra"),
    ],
)
async def test_everything_else_goes_on_to_the_app_behind(
    lane_client: tuple[httpx.AsyncClient, RouterCalls], method: str, path: str
) -> None:
    http, behind = lane_client
    answer = await http.request(method, path)
    assert answer.status_code == 418
    assert behind.paths == [path]


@pytest.mark.parametrize(
    ("name", "status", "slug", "errors"),
    [
        ("missing", 404, "model-not-found", None),  # a ServiceError
        ("invalid", 422, "schema-violation", [{"loc": ["query", "top_k"], "msg": "too small", "type": "greater_than"}]),
    ],
)
async def test_an_endpoints_error_is_its_problem_document(
    lane_client: tuple[httpx.AsyncClient, RouterCalls], name: str, status: int, slug: str, errors: object
) -> None:
    http, _ = lane_client
    answer = await http.post(f"/v1/models/{name}:classify")
    body = assert_problem(answer, status, slug)
    assert body["instance"] == f"/v1/models/{name}:classify"
    assert body.get("errors") == errors


async def test_the_lane_answers_errors_as_the_apps_exception_handlers_do() -> None:
    """The same request through the router (the app's handlers) and through the lane: the same answer."""

    def app(*, lane: bool) -> FastAPI:
        built = FastAPI()
        built.include_router(_router())
        install_problem_handlers(built)
        if lane:
            built.add_middleware(ClassifyLane, routes=_routes())
        built.add_middleware(ErrorBoundaryMiddleware)  # as in create_app: outside the lane
        return built

    through_router, through_lane = app(lane=False), app(lane=True)
    for path in ("/v1/models/missing:classify", "/v1/models/invalid:classify", "/v1/models/broken:classify"):
        answers = []
        for asgi in (through_router, through_lane):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://x") as http:
                answers.append(await http.post(path))
        assert answers[0].status_code == answers[1].status_code, path
        assert answers[0].json() == answers[1].json(), path
        assert answers[0].headers["content-type"] == answers[1].headers["content-type"]
    assert answers[1].status_code == 500  # "broken": the boundary's generic answer


def test_a_route_with_parameters_or_dependencies_is_refused_at_start() -> None:
    router = APIRouter()

    @router.post("/v1/models/{name}:classify")
    async def classify(name: str, request: Request) -> Response:  # FastAPI would fill name in
        return Response(name)

    with pytest.raises(ValueError, match="take only the Request"):
        ClassifyLane(RouterCalls(), routes=[r for r in router.routes if isinstance(r, APIRoute)])
