"""PEP 3333: the environ, ``wsgi.input``, ``start_response`` and the app call;
``proxy`` rewrites the environ from a trusted reverse proxy's headers."""
