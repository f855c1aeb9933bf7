"""WSGI entry point: ``appserver myproj.wsgi`` serves ``application``."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproj.settings")

application = get_wsgi_application()
