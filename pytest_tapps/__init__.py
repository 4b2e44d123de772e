"""pytest-tapps: prove an agent-workflow system recovers and keeps its data as its runbook says.

Importing this package imports nothing heavy; the reference core is :mod:`pytest_tapps.core`.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
