"""``python -m pytest_tapps``: the ``tapps`` command line."""

from pytest_tapps.cli import console

console()
