"""PEP 3333: the environ, ``wsgi.input``, ``start_response`` and the app call."""
