// Command testapp is the test application of the node tests: what a workload
// that uses an AstraToken does. It re-reads the mounted token file every
// -interval, asks Astra's /v2/currentOrg whether the token authenticates, and
// prints one line whenever what it sees changes:
//
//	TESTAPP {"tokenSha256":"…","expiresAt":"…","valid":true,"status":200,"orgId":"…","reads":12}
//
// expiresAt is the Secret's key of that name, mounted beside the token (a renewal
// changes it). It never prints the token itself, only its SHA-256.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type observation struct {
	TokenSHA256 string `json:"tokenSha256"`
	ExpiresAt   string `json:"expiresAt,omitempty"`
	Valid       bool   `json:"valid"`
	Status      int    `json:"status"`
	OrgID       string `json:"orgId,omitempty"`
	Error       string `json:"error,omitempty"`
	Reads       int    `json:"reads"`
}

func main() {
	tokenFile := flag.String("token-file", "/var/run/astra/token", "the mounted token file")
	astraURL := flag.String("astra-url", "", "the Astra DevOps API base URL (required)")
	interval := flag.Duration("interval", time.Second, "how often to re-read the file and re-check the token")
	flag.Parse()
	if *astraURL == "" {
		fmt.Fprintln(os.Stderr, "testapp: -astra-url is required")
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	client := &http.Client{Timeout: 5 * time.Second}
	var last observation
	reads := 0
	for {
		reads++
		seen := look(client, *tokenFile, strings.TrimRight(*astraURL, "/"))
		if reads == 1 || seen.TokenSHA256 != last.TokenSHA256 || seen.ExpiresAt != last.ExpiresAt || seen.Valid != last.Valid || seen.Error != last.Error {
			seen.Reads = reads
			line, _ := json.Marshal(seen)
			fmt.Printf("TESTAPP %s\n", line)
		}
		last = seen
		select {
		case <-stop:
			fmt.Println("TESTAPP stopping")
			return
		case <-time.After(*interval):
		}
	}
}

func look(client *http.Client, tokenFile, astraURL string) observation {
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return observation{Error: "reading the token file: " + err.Error()}
	}
	token := strings.TrimSpace(string(raw))
	sum := sha256.Sum256([]byte(token))
	seen := observation{TokenSHA256: hex.EncodeToString(sum[:])}
	if expires, err := os.ReadFile(filepath.Join(filepath.Dir(tokenFile), "expiresAt")); err == nil {
		seen.ExpiresAt = strings.TrimSpace(string(expires))
	}
	req, err := http.NewRequest(http.MethodGet, astraURL+"/v2/currentOrg", nil)
	if err != nil {
		seen.Error = err.Error()
		return seen
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		seen.Error = "asking Astra: " + err.Error()
		return seen
	}
	defer resp.Body.Close()
	seen.Status = resp.StatusCode
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		var org struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &org) == nil {
			seen.Valid, seen.OrgID = true, org.ID
		}
	}
	return seen
}
