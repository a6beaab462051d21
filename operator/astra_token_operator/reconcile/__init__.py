"""Reconciliation: what the operator does for each resource, in terms of the
ledger (vault), Astra (astra), Kubernetes (kube) and the pure decisions
(leases, tenancy). Kopf handlers call into this package and nothing else."""
