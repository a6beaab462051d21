"""The real parts the integration tests run against: a Kubernetes control plane
built from Go modules, OpenBao from its PyPI wheel, kubectl and helm. Used by the
pytest fixtures and by `make platform` / `make demo`."""
