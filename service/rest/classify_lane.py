"""``ClassifyLane``: the ``:classify`` routes served without Starlette's router and FastAPI's route handler.

The classify routes are declared on FastAPI like every other route (their OpenAPI entries, ``/docs``,
the 405 for a wrong method), but nearly every request is a classify call, and the router's and route
handler's layers (route matching across every route, the request/response wrapper, FastAPI's
dependency solving for an endpoint that has none, the exception-handler wrapper and exit stack) cost
about a fifth of a classify request's event-loop time (py-spy, REST text at 32 clients).

This middleware sits inside every middleware of the gateway (request ids, error bodies, auth, body
limits and guard all still run) and in front of the router: a ``POST`` whose path matches one of the
classify routes' own path patterns is handed straight to that route's endpoint, and the endpoint's
errors become the problem documents the app's exception handlers would have made
(``service.rest.problems.problem_for``). Every other request goes on to the router unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.rest.problems import problem_for

Endpoint = Callable[[Request], Awaitable[Response]]


class ClassifyLane:
    """Serves ``POST`` requests to the given routes' paths by calling their endpoints directly."""

    def __init__(self, app: ASGIApp, routes: Sequence[APIRoute]) -> None:
        self.app = app
        for route in routes:
            dependant = route.dependant
            if (
                dependant.dependencies
                or dependant.path_params
                or dependant.query_params
                or dependant.header_params
                or dependant.cookie_params
                or dependant.body_params
            ):
                # FastAPI would resolve them; called directly, the endpoint gets the request only.
                raise ValueError(f"{route.path}: the classify lane serves endpoints that take only the Request")
        self._routes: tuple[tuple[re.Pattern[str], Endpoint], ...] = tuple(
            (route.path_regex, route.endpoint) for route in routes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Behind a root path the router strips it first; such a deployment takes the router's way.
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            for pattern, endpoint in self._routes:
                match = pattern.match(path)
                if match is not None:
                    await self._serve(endpoint, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(endpoint: Endpoint, params: dict[str, str], scope: Scope, receive: Receive, send: Send) -> None:
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            problem = problem_for(exc, request.url.path)
            if problem is None:
                raise  # the error boundary outside answers 500 and logs it
            response = problem
        await response(scope, receive, send)
