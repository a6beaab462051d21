package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as the kubelet command registers it
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client metrics, idem
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, idem
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
)

// runKubelet is the upstream kubelet command, unchanged: `controlplane kubelet
// <kubelet flags>` runs it in a process of its own (it runs as root and is
// started and stopped apart from the control plane).
func runKubelet(args []string) int {
	command := kubeletapp.NewKubeletCommand(context.Background())
	command.SetArgs(args)
	os.Args = append([]string{"kubelet"}, args...)
	return cli.Run(command)
}
