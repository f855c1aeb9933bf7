#!/usr/bin/env python
"""Django's command-line utility for the example project (``myproj``).

Contract: the usual ``manage.py``: sets ``DJANGO_SETTINGS_MODULE`` to
``myproj.settings`` unless already set, then hands argv to Django.
"""
import os
import sys


def main():
    """Run a Django management command."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
