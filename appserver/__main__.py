"""``python -m appserver``: the same command as the ``appserver`` script."""

from appserver.cli import main

if __name__ == "__main__":
    main(prog_name="appserver")
