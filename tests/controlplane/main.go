// Command controlplane runs a real Kubernetes control plane (embedded etcd,
// kube-apiserver, kube-scheduler and a cut-down kube-controller-manager) in one
// process, on 127.0.0.1 and free ports, for the astra-token-operator tests.
//
// `controlplane kubelet <flags>` runs the upstream kubelet instead, in a
// process of its own: the test platform starts it beside containerd.
//
// It prints exactly one line on stdout when the cluster is usable:
//
//	CONTROLPLANE READY {"kubeconfig": ..., "server": ..., ...}
//
// and runs until SIGINT/SIGTERM, or until stdin closes with -exit-on-stdin-close
// (so a test runner that dies cannot leave it behind).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	apiapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

type readyInfo struct {
	Kubeconfig string `json:"kubeconfig"`
	Server     string `json:"server"`
	CAFile     string `json:"caFile"`
	AdminCert  string `json:"adminCert"`
	AdminKey   string `json:"adminKey"`
	SAIssuer   string `json:"serviceAccountIssuer"`
	EtcdURL    string `json:"etcd"`
	AuditLog   string `json:"auditLog"`
	PID        int    `json:"pid"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kubelet" {
		os.Exit(runKubelet(os.Args[2:]))
	}
	dataDir := flag.String("data-dir", "", "directory for certificates, kubeconfig and etcd data (required)")
	exitOnStdinClose := flag.Bool("exit-on-stdin-close", false, "stop when stdin reaches EOF")
	readyTimeout := flag.Duration("ready-timeout", 120*time.Second, "give up if the cluster is not usable by then")
	flag.Parse()
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "controlplane: -data-dir is required")
		os.Exit(2)
	}
	if err := run(*dataDir, *exitOnStdinClose, *readyTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(dataDir string, exitOnStdinClose bool, readyTimeout time.Duration) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopOnSignalOrEOF(cancel, exitOnStdinClose)

	p, err := generatePKI(dataDir)
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]

	etcd, err := startEtcd(dataDir, etcdPort, peerPort)
	if err != nil {
		return err
	}
	defer etcd.Close()

	if err := writeAuditPolicy(dataDir); err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, p); err != nil {
		return err
	}

	apiURL, _ := url.Parse(server)
	apiapp.SetServiceResolverForTests(&podServiceResolver{kubeconfig: kubeconfig, server: apiURL})

	failed := make(chan error, 3)
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		if err := runAPIServer(ctx, apiserverArgs(p, dataDir, etcdPort, apiPort)); err != nil && ctx.Err() == nil {
			failed <- fmt.Errorf("kube-apiserver: %w", err)
		}
	}()

	client, err := adminHTTPClient(p)
	if err != nil {
		return err
	}
	readyCtx, readyCancel := context.WithTimeout(ctx, readyTimeout)
	defer readyCancel()
	if err := waitFor(readyCtx, failed, client, server+"/readyz"); err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w", err)
	}
	go func() {
		if err := runControllerManager(ctx, controllerManagerArgs(p, kubeconfig)); err != nil && ctx.Err() == nil {
			failed <- fmt.Errorf("kube-controller-manager: %w", err)
		}
	}()
	go func() {
		if err := runScheduler(ctx, kubeconfig); err != nil && ctx.Err() == nil {
			failed <- fmt.Errorf("kube-scheduler: %w", err)
		}
	}()
	// The default ServiceAccount appears once the serviceaccount controller
	// runs: from then on tests can create pods and request tokens.
	if err := waitFor(readyCtx, failed, client, server+"/api/v1/namespaces/default/serviceaccounts/default"); err != nil {
		return fmt.Errorf("kube-controller-manager not ready: %w", err)
	}

	info, _ := json.Marshal(readyInfo{
		Kubeconfig: kubeconfig, Server: server, CAFile: p.CACert, AdminCert: p.AdminCert, AdminKey: p.AdminKey,
		SAIssuer: serviceAccountIssuer, EtcdURL: fmt.Sprintf("http://127.0.0.1:%d", etcdPort), PID: os.Getpid(),
		AuditLog: filepath.Join(dataDir, "audit.log"),
	})
	fmt.Printf("CONTROLPLANE READY %s\n", info)

	select {
	case <-ctx.Done():
	case err := <-failed:
		cancel()
		return err
	}
	// Give the apiserver a moment to drain, but never hang a test run on it.
	select {
	case <-apiDone:
	case <-time.After(15 * time.Second):
	}
	return nil
}

func stopOnSignalOrEOF(cancel context.CancelFunc, exitOnStdinClose bool) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		<-signals // a second signal means now
		os.Exit(130)
	}()
	if exitOnStdinClose {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func adminHTTPClient(p *pki) (*http.Client, error) {
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cannot parse the generated CA")
	}
	cert, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}

// waitFor polls url until it answers 200, a component fails, or ctx ends.
func waitFor(ctx context.Context, failed <-chan error, client *http.Client, url string) error {
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return fmt.Errorf("%w (last answer from %s: %s)", ctx.Err(), url, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
