"""``python -m pytest_tapps``: the ``tapps`` command line."""

from pytest_tapps.cli import main

raise SystemExit(main())
