"""Static files storage of the example project.

Contract: after ``manage.py collectstatic`` the ``{% static %}`` tag gives
the hashed names Django's ``ManifestStaticFilesStorage`` writes
(``myproj/site.3f2a9c1b7e4d.css``), which ``appserver --static`` serves as
immutable for a year. Before collectstatic has run (development, a quick
try) it gives the plain name instead of failing the page.
"""
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class ManifestStorage(ManifestStaticFilesStorage):
    manifest_strict = False

    def hashed_name(self, name, content=None, filename=None):
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:      # not collected yet: no file to hash
            return name
