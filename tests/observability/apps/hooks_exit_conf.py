"""Config for the hook test: a ``post_fork`` hook that ends the worker with
``SystemExit``, which ``hooks.call`` does not catch (only ``Exception``)."""


def post_fork(server, worker):
    raise SystemExit(5)
