"""WSGI entry point for production servers: `granian --interface wsgi api.wsgi:app`."""

from api import create_app

app = create_app()
