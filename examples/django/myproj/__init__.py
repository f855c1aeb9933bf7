"""A minimal Django project served by appserver (``appserver myproj.wsgi``)."""
