"""Fixtures of the parser tests.

``both_plain_splits`` runs a test twice: with the C twin of the plain-head
splitter (``appserver.http._plain``; skipped when it was not built) and with
the pure-Python one, so the corpus, the properties and the h11 oracle hold
for both.
"""
import pytest

from appserver.http import plain


@pytest.fixture(params=["c", "python"])
def both_plain_splits(request, monkeypatch):
    if request.param == "c":
        if plain.split is plain.split_python:
            pytest.skip("the C plain-head splitter is not built")
    else:
        monkeypatch.setattr(plain, "split", plain.split_python)
    return request.param
