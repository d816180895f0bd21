"""The REST surface: a thin FastAPI layer over the classify core (``create_app``) and its server."""

from service.rest.app import create_app

__all__ = ["create_app"]
