"""What the operator shows of itself: Prometheus metrics, liveness and readiness, served on a
port of its own (settings metrics_*)."""
