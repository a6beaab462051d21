package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/component-base/cli/globalflag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	apiapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apioptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// apiserverArgs are the kube-apiserver flags of a single-node test cluster:
// loopback only, client-certificate admin, RBAC, and a service-account issuer
// so TokenRequest, TokenReview and impersonation behave as in a real cluster.
func apiserverArgs(p *pki, dataDir string, etcdPort, securePort int) []string {
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", securePort),
		"--cert-dir=" + dataDir,
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + p.SAPublicKey,
		"--service-account-signing-key-file=" + p.SASigningKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// kubectl logs/exec: the apiserver calls the kubelet as the admin.
		"--kubelet-client-certificate=" + p.AdminCert,
		"--kubelet-client-key=" + p.AdminKey,
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		// No kubelet, no nodes: the "kubernetes" Service endpoints would point
		// at a loopback address, which endpoint validation refuses.
		"--endpoint-reconciler-type=none",
		// Requests on Secrets are audited (metadata only) so tests can prove
		// which Secrets an operator lists and watches.
		"--audit-policy-file=" + filepath.Join(dataDir, "audit-policy.yaml"),
		"--audit-log-path=" + filepath.Join(dataDir, "audit.log"),
		"--audit-log-format=json",
		"--profiling=false",
		"--v=0",
	}
}

// runAPIServer parses args exactly as the kube-apiserver command would and runs
// the server until ctx ends.
func runAPIServer(ctx context.Context, args []string) error {
	s := apioptions.NewServerRunOptions()
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	named := s.Flags()
	globalflag.AddGlobalFlags(named.FlagSet("global"), "kube-apiserver", logs.SkipLoggingConfigurationFlags())
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	return apiapp.Run(ctx, completed)
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: None
`

func writeAuditPolicy(dataDir string) error {
	return os.WriteFile(filepath.Join(dataDir, "audit-policy.yaml"), []byte(auditPolicy), 0o600)
}
