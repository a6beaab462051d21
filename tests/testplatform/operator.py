"""The operator as a real process, as it runs in a cluster: `astra-token-operator run`,
configured through ASTRA_OPERATOR_* variables, logs captured to a file so tests
can read them (and prove they hold no secret)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from testplatform.paths import venv_tool
from testplatform.processes import Child, free_port, wait_until


@dataclass
class OperatorProcess:
    log_dir: Path
    env: dict[str, str]
    child: Child | None = None
    starts: int = 0
    liveness_port: int = 0
    metrics_port: int = 0  # the operator's own port: /metrics, /livez, /readyz
    webhook_port: int | None = None
    verbose: bool = True  # DEBUG logs: the suite proves even those hold no secret; benchmarks turn it off
    standalone: bool = True  # False: Kopf peering (set ASTRA_OPERATOR_PEERING_NAME), with this priority
    priority: int = 0
    logs: list[Path] = field(default_factory=list)
    command_prefix: list[str] = field(default_factory=list)  # e.g. a profiler the operator runs under

    def start(self, extra_env: dict[str, str] | None = None, wait: bool = True) -> None:
        assert self.child is None or not self.child.alive(), "already running"
        self.starts += 1
        self.liveness_port = free_port()
        self.metrics_port = free_port()
        env = {"ASTRA_OPERATOR_METRICS_PORT": str(self.metrics_port), **self.env, **(extra_env or {})}
        self.webhook_port = None
        if env.get("ASTRA_OPERATOR_WEBHOOK_ENABLED", "true").lower() != "false":
            # A port given in the env may be shared: Kopf listens with SO_REUSEPORT, so replicas on
            # one port stand for a Service's endpoints (the kernel spreads connections, the
            # survivor gets them all).
            self.webhook_port = int(env.get("ASTRA_OPERATOR_WEBHOOK_PORT") or free_port())
            env["ASTRA_OPERATOR_WEBHOOK_PORT"] = str(self.webhook_port)
        log = self.log_dir / f"operator-{self.starts}.log"
        self.logs.append(log)
        self.child = Child(
            "operator",
            [*self.command_prefix, str(venv_tool("astra-token-operator")), "run",
             *(["--standalone"] if self.standalone else [f"--priority={self.priority}"]),
             f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz", *(["--verbose"] if self.verbose else [])],
            log_path=log, env=env, stdout=None,
        )
        if wait:
            self.wait_ready()

    def _webhooks_point_here(self) -> bool:
        """The apiserver calls this process, not a previous one: both configurations are
        patched by the operator shortly after it starts, each in its own time (the mutating one
        may be patched well before the validating one)."""
        name = self.env.get("ASTRA_OPERATOR_WEBHOOK_CONFIGURATION_NAME", "astra-token-operator.astra-tokens.io")
        found = subprocess.run(
            [str(venv_tool("kubectl")), "get", f"mutatingwebhookconfiguration/{name}",
             f"validatingwebhookconfiguration/{name}", "-o", "jsonpath={.items[*].webhooks[*].clientConfig.url}"],
            capture_output=True, text=True, env={**os.environ, "KUBECONFIG": self.env["KUBECONFIG"]}, check=False)
        urls = found.stdout.split()
        return found.returncode == 0 and bool(urls) and all(f":{self.webhook_port}/" in url for url in urls)

    def wait_ready(self, timeout: float = 60) -> None:
        url = f"http://127.0.0.1:{self.liveness_port}/healthz"

        def live() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(live, timeout=timeout, what="the operator's liveness endpoint", child=self.child)
        if self.webhook_port is not None:
            wait_until(self._webhooks_point_here, timeout=timeout, interval=0.3,
                       what="the webhook configuration to point at this operator", child=self.child)

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def scrape(self) -> str:
        """The operator's /metrics, as Prometheus reads it."""
        with urllib.request.urlopen(f"{self.ops_url}/metrics", timeout=10) as response:  # noqa: S310 (http, loopback)
            return str(response.read().decode())

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful exit, like a node failure."""
        if self.child is not None:
            self.child.signal_group(signal.SIGKILL)
            self.child.process.wait(timeout=10)
            self.child.stop()

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.child is not None
        try:
            code = self.child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"the operator did not exit within {timeout}s") from exc
        self.child.stop()
        return code

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=30)

    def restart(self, extra_env: dict[str, str] | None = None) -> None:
        self.stop()
        self.start(extra_env)

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        wait_until(lambda: needle in self.log_text(), timeout=timeout, what=f"{needle!r} in the operator's log")


def operator_env(*, kubeconfig: Path, vault_addr: str, vault_token: str, operator_namespace: str,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "KUBECONFIG": str(kubeconfig),
        "ASTRA_OPERATOR_VAULT_ADDR": vault_addr,
        "ASTRA_OPERATOR_VAULT_TOKEN": vault_token,
        "ASTRA_OPERATOR_OPERATOR_NAMESPACE": operator_namespace,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return {k: v for k, v in env.items() if v is not None}


def elapsed(since: float) -> float:
    return time.monotonic() - since


