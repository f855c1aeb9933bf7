"""How the server meets its host: start-up checks, processes, systemd, upgrades.

``preflight`` checks what a start can find wrong before it binds or forks;
``daemon`` daemonizes, drops privileges and sets the umask; ``pidfile``
checks, writes and removes the pid file; ``systemd`` is socket activation and
``sd_notify``; ``upgrade`` starts a new arbiter on USR2; ``cpus`` says how
many workers ``auto`` means; ``sharedlibs`` loads common C extensions
before the fork.
"""
