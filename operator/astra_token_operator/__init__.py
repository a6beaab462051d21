"""astra-token-operator: DataStax Astra DB application tokens as Kubernetes resources."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("astra-token-operator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
