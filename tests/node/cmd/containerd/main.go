// Command containerd is containerd's own daemon, built from its Go module with
// every built-in plugin that needs no cgo (the btrfs and zfs snapshotters need
// cgo or kernel modules and are left out by their build constraints).
package main

import (
	"context"
	"fmt"
	"os"

	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"
	"github.com/containerd/containerd/v2/cmd/containerd/command"
)

func main() {
	if err := command.App().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		os.Exit(1)
	}
}
