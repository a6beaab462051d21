"""`make platform`: the control plane and OpenBao in the foreground, for a
person to use by hand. Prints export lines; Ctrl-C stops everything."""

from __future__ import annotations

import signal
import sys
import threading

from testplatform.platform import start_platform


def main() -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("starting the control plane and OpenBao (the first run builds the control plane)...", flush=True)
    platform = start_platform()
    try:
        for line in platform.timings.lines():
            print(line, file=sys.stderr)
        print("\n# paste these into a shell:")
        for key, value in platform.env().items():
            print(f"export {key}='{value}'")
        print(f"# OpenBao audit log: {platform.openbao.audit_log}")
        print("# Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            for child in (platform.controlplane.child, platform.openbao.child):
                if child is not None and not child.alive():
                    print(f"{child.name} exited:\n{child.log_tail()}", file=sys.stderr)
                    return 1
        return 0
    finally:
        print("\nstopping...", file=sys.stderr, flush=True)
        platform.stop()


if __name__ == "__main__":
    raise SystemExit(main())
