"""`kubectl astra`: a kubectl plugin that answers the questions the Vault plugin's
users asked from a terminal (its lookups, `vault list`/`lease` commands and
update_roles.sh) from one place.

Layout: ``cli`` (click commands, the only module that prints), ``kube`` (the only
module that calls the Kubernetes client), ``ledger`` (the only one that calls
hvac), and pure modules: ``views`` (rows and text from objects), ``lookups``
(names, lease ids and selectors), ``outcomes`` (what a request's result means).
Everything here is synchronous: it is a command line, no event loop involved.
It never imports the operator's handlers or reconcile code."""
