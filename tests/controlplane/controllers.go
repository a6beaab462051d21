package main

import (
	"context"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/component-base/cli/globalflag"
	"k8s.io/component-base/logs"
	ctrlapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	ctrloptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// controllers is the cut-down kube-controller-manager: what an operator's
// tests rely on (ownerReference GC, namespace deletion, default
// ServiceAccounts, aggregated admin/edit/view roles, kube-root-ca.crt) and the
// workload controllers that turn Deployments, StatefulSets, DaemonSets and
// Jobs into pods for the node. No IPAM or route controllers: the one node is on
// the host network.
var controllers = []string{
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"clusterrole-aggregation-controller",
	"root-ca-certificate-publisher-controller",
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"endpointslice-controller",
	// Removes the not-ready taint the kubelet registers the node with, once
	// the node reports Ready.
	"node-lifecycle-controller",
}

func controllerManagerArgs(p *pki, kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--service-account-private-key-file=" + p.SASigningKey,
		"--root-ca-file=" + p.CACert,
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--secure-port=0", // no HTTPS endpoint: nothing scrapes it
		"--v=0",
	}
}

// runControllerManager parses args as kube-controller-manager would and runs
// the selected controllers until ctx ends.
func runControllerManager(ctx context.Context, args []string) error {
	s, err := ctrloptions.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	known, disabled, aliases := ctrlapp.KnownControllers(), ctrlapp.ControllersDisabledByDefault(), ctrlapp.ControllerAliases()
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	named := s.Flags(known, disabled, aliases)
	globalflag.AddGlobalFlags(named.FlagSet("global"), "kube-controller-manager", logs.SkipLoggingConfigurationFlags())
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := s.Config(ctx, known, disabled, aliases)
	if err != nil {
		return err
	}
	return ctrlapp.Run(ctx, c.Complete())
}
