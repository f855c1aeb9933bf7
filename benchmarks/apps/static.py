"""Benchmark app ``static``: WhiteNoise around the hello app.

Contract: ``application`` serves the files of the directory named by the
``BENCH_STATIC_DIR`` environment variable under ``/static/`` through
WhiteNoise (its production mode: files indexed at start, no autorefresh),
and answers every other path with the hello app. It is how a Django project
serves its static files without nginx today; appserver runs the same app
with ``--static``, so the app never sees those paths.
"""
import os

from whitenoise import WhiteNoise

from hello import application as hello

application = WhiteNoise(hello, root=os.environ["BENCH_STATIC_DIR"], prefix="/static/")
