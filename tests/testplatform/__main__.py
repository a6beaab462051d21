"""`make platform`: the control plane, OpenBao and (as root, where the node can run) the
node, in the foreground, for a person to use by hand. Prints export lines; Ctrl-C (or
SIGTERM) stops everything, the node's containers, mounts and cgroups included."""

from __future__ import annotations

import signal
import sys
import threading

from testplatform.gobuild import ensure_controlplane, ensure_node_binaries
from testplatform.node import Node, node_unsupported_reason, start_node
from testplatform.platform import start_platform


def main() -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("starting the control plane and OpenBao (the first run builds the control plane)...", flush=True)
    platform = start_platform()
    node: Node | None = None
    try:
        for line in platform.timings.lines():
            print(line, file=sys.stderr)
        reason = node_unsupported_reason()
        if reason is None:
            binaries, built = ensure_node_binaries()
            kubelet, _ = ensure_controlplane()
            node = start_node(binaries, kubelet, platform.controlplane, platform.work_dir / "node")
            print(f"platform: node build {built:.1f} s (0 when cached); node ready in {node.ready_seconds:.1f} s",
                  file=sys.stderr)
        else:
            print(f"platform: no node (pods stay Pending): {reason}", file=sys.stderr)
        print("\n# paste these into a shell:")
        for key, value in platform.env().items():
            print(f"export {key}='{value}'")
        print(f"# OpenBao audit log: {platform.openbao.audit_log}")
        if node is not None:
            print(f"# node: 127.0.0.1, work directory {node.work_dir}, cgroup {node.cgroup_root}; pods need "
                  "hostNetwork: true and images imported with ctr")
        print("# Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            children = [platform.controlplane.child, platform.openbao.child]
            if node is not None:
                children += [node.containerd, node.kubelet]
            for child in children:
                if child is not None and not child.alive():
                    print(f"{child.name} exited:\n{child.log_tail()}", file=sys.stderr)
                    return 1
        return 0
    finally:
        print("\nstopping...", file=sys.stderr, flush=True)
        if node is not None:
            try:
                node.stop()
            except Exception as exc:  # keep tearing down the rest
                print(f"platform: stopping the node failed: {exc}", file=sys.stderr)
        platform.stop()


if __name__ == "__main__":
    raise SystemExit(main())
