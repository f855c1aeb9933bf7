"""Loader fixture: the module's own import raises."""

SETTING = 1


def _fail():
    raise RuntimeError("boom while importing la_raises")


_fail()
