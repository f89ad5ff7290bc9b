"""gateway: the fleet's public HTTP front."""

__version__ = "0.1.0"
