package main

import (
	"fmt"
	"os"
)

// writeKubeconfig writes an admin kubeconfig that embeds file paths (not
// data) so a person can read which CA and client certificate are in use.
func writeKubeconfig(path, server string, p *pki) error {
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: controlplane
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: controlplane
  context:
    cluster: controlplane
    user: admin
    namespace: default
current-context: controlplane
`, server, p.CACert, p.AdminCert, p.AdminKey)
	return os.WriteFile(path, []byte(content), 0o600)
}
