"""The user's application: find and load it, warm it up, watch its files.

``loader`` finds and imports the WSGI callable named on the command line;
``warmup`` serves a new worker's warm-up requests to it; ``devreload`` is
``--reload``: a worker watches the files the app loaded (development).
"""
