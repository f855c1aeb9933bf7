"""Deployment tests: systemd, containers (PID 1), example files."""
