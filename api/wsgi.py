"""WSGI entry point for production servers: `granian --interface wsgi api.wsgi:app`."""

import gc

from api import create_app

app = create_app()
# The app's objects live as long as the worker. Kept out of the collector's sight, they cost
# nothing in its collections, and above all in those Python runs while it tears a stopping
# worker down: the worker then exits within a tenth of a second, against up to a second.
gc.freeze()
