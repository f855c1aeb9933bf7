"""Settings: declared once, read from every source, checked, documented.

``settings`` is the table (one row per setting) and ``schema`` what a row is;
``convert`` checks raw values; ``gunicorn`` classifies Gunicorn's settings;
``loading`` merges defaults, the config file, the environment and the command
line into one frozen ``Config``; ``cmdline`` is the command line (click),
``docs`` renders docs/settings.md; ``hooks`` are the config file's server
hooks and ``hook_views`` the Gunicorn-shaped objects they receive;
``service_links`` recognises Kubernetes' variables so they are not settings.
"""
