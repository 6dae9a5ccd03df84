package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// probeLen is the length of the prefix every needle is indexed by; every needle is longer.
const probeLen = 16

// testNoSecretLeaks runs last: every access token, refresh token, authorization code and
// client secret that any OAuth server of the run issued (/admin/issued, collected when each
// stopped), and every ServiceAccount token a gateway caller presented, must appear in none of
// the logs (manager, CLI, OAuth servers, $BROWSER records, what the gateway answered its
// callers), events (events.k8s.io/v1 and v1) or server and credential statuses of the whole run.
func testNoSecretLeaks(t *testing.T) {
	start := time.Now()
	issuedMu.Lock()
	secrets := append([]string(nil), issued...)
	callers := append([]string(nil), callerTokens...)
	issuedMu.Unlock()
	if len(secrets) < 50 {
		t.Fatalf("only %d issued secrets collected: did the other scenarios run?", len(secrets))
	}
	needles, owner := leakNeedles(secrets)
	for i, tok := range callers {
		if parts := strings.Split(tok, "."); len(parts) == 3 && len(parts[2]) > probeLen {
			needles, owner = append(needles, parts[2]), append(owner, fmt.Sprintf("the signature of caller ServiceAccount token #%d", i))
		}
		needles, owner = append(needles, tok), append(owner, fmt.Sprintf("caller ServiceAccount token #%d", i))
	}

	sources := map[string][]byte{}
	_ = filepath.WalkDir(filepath.Join(runDir, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				sources["log "+filepath.Base(p)] = b
			}
		}
		return nil
	})
	_ = filepath.WalkDir(filepath.Join(runDir, "snapshots"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				sources["status snapshot "+filepath.Base(p)] = b
			}
		}
		return nil
	})
	ctx := context.Background()
	var ev eventsv1.EventList
	var cev corev1.EventList
	var us mcpv1alpha1.UpstreamServerList
	var creds mcpv1alpha1.UpstreamCredentialList
	if err := kube.List(ctx, &ev); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	if err := kube.List(ctx, &cev); err != nil {
		t.Fatalf("listing v1 events: %v", err)
	}
	if err := kube.List(ctx, &us); err != nil {
		t.Fatalf("listing servers: %v", err)
	}
	if err := kube.List(ctx, &creds); err != nil {
		t.Fatalf("listing credentials: %v", err)
	}
	sources["events.k8s.io/v1 events"], _ = json.Marshal(ev.Items)
	sources["v1 events"], _ = json.Marshal(cev.Items)
	sources["current statuses"], _ = json.Marshal(us.Items)
	sources["current credential statuses"], _ = json.Marshal(creds.Items)

	var total int
	var leaks []string
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		data := sources[n]
		total += len(data)
		for _, id := range findNeedles(data, needles) {
			leaks = append(leaks, fmt.Sprintf("%s contains %s", n, owner[id]))
		}
	}
	if len(ev.Items)+len(cev.Items) == 0 {
		t.Error("no events recorded in the whole run: the check would be empty")
	}
	if len(leaks) > 0 {
		t.Errorf("%d secret leaks (secrets not shown):\n%s", len(leaks), strings.Join(leaks, "\n"))
	}
	t.Logf("%d issued secrets and %d caller tokens, %d sources (%d log files, %d events), %d KiB scanned: %d leaks",
		len(secrets), len(callers), len(sources), countPrefix(names, "log "), len(ev.Items)+len(cev.Items), total/1024, len(leaks))
	addSummary(summaryRow{scenario: "7 no secret leaks", duration: time.Since(start), reuses: "-",
		notes: fmt.Sprintf("%d issued secrets + %d caller tokens vs %d sources (%d KiB, %d events): %d leaks",
			len(secrets), len(callers), len(sources), total/1024, len(ev.Items)+len(cev.Items), len(leaks))})
}

// leakNeedles turns each issued secret into the strings to look for: the secret, the part after
// its kind prefix ("rt_…"), and a JWT's signature. owner describes a needle without revealing it.
func leakNeedles(secrets []string) ([]string, []string) {
	var needles, owner []string
	add := func(n, what string) {
		if len(n) > probeLen {
			needles, owner = append(needles, n), append(owner, what)
		}
	}
	for i, s := range secrets {
		kind := "secret"
		switch parts := strings.Split(s, "."); {
		case len(parts) == 3:
			kind = "access token (JWT)"
			add(parts[2], fmt.Sprintf("the signature of issued %s #%d", kind, i))
		case strings.Contains(s, "_"):
			kind = s[:strings.Index(s, "_")] + "_… secret"
			add(s[strings.Index(s, "_")+1:], fmt.Sprintf("the body of issued %s #%d", kind, i))
		}
		add(s, fmt.Sprintf("issued %s #%d (%d chars)", kind, i, len(s)))
	}
	return needles, owner
}

// findNeedles returns the indexes of the needles found in data, indexing needles by their
// first probeLen bytes so a scan costs one map lookup per byte.
func findNeedles(data []byte, needles []string) []int {
	index := map[string][]int{}
	for i, n := range needles {
		index[n[:probeLen]] = append(index[n[:probeLen]], i)
	}
	found := map[int]bool{}
	for i := 0; i+probeLen <= len(data); i++ {
		for _, id := range index[string(data[i:i+probeLen])] {
			if n := needles[id]; i+len(n) <= len(data) && string(data[i:i+len(n)]) == n {
				found[id] = true
			}
		}
	}
	out := make([]int, 0, len(found))
	for id := range found {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

func countPrefix(ss []string, p string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}

// TestFindNeedles is the leak check's positive control: it finds a secret, a secret without its
// kind prefix and a JWT's signature embedded in other text.
func TestFindNeedles(t *testing.T) {
	jwt := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQtdGhhdC1pcy1sb25n"
	rt := "rt_abcdefghijklmnopqrstuvwxyz012345"
	needles, _ := leakNeedles([]string{rt, jwt, "code_ZZZZZZZZZZZZZZZZZZZZZZZZ"})
	cases := map[string]int{
		`{"token":"` + rt + `"}`:                        2, // the whole secret and its body
		"x=abcdefghijklmnopqrstuvwxyz012345&":           1,
		"Authorization: Bearer " + jwt:                  2, // the JWT and its signature
		"sig c2lnbmF0dXJlLXBhcnQtdGhhdC1pcy1sb25n only": 1,
		"nothing secret here, rt_abcdefghijklmnop":      0,
	}
	for data, want := range cases {
		if got := findNeedles([]byte(data), needles); len(got) != want {
			t.Errorf("%q: found %d needles, want %d", data, len(got), want)
		}
	}
}
