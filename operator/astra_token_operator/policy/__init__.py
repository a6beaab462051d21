"""Pure decisions: inputs in, a typed answer out. No I/O, no clock of their own,
no Kopf (import-linter keeps it so). The reconcile layer gathers what they need
and applies what they decide."""
