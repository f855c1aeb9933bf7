"""Functional tests: the real ``appserver`` command, real processes and sockets."""
