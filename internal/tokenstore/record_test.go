package tokenstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func containsSecret(s string) bool {
	for _, secret := range []string{secretAccess, secretRefresh, secretClient, "SECRET"} {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

func TestRecordRedaction(t *testing.T) {
	k := testKey("fmt")
	r := testRecord(k)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%20v"} {
		for name, v := range map[string]any{"value": *r, "pointer": r, "client": r.Client, "clientPtr": &r.Client, "slice": []*Record{r}} {
			out := fmt.Sprintf(verb, v)
			if containsSecret(out) {
				t.Errorf("%s of %s leaks a secret: %s", verb, name, out)
			}
		}
	}
	if out := r.String() + r.GoString() + r.Client.String() + r.Client.GoString(); containsSecret(out) {
		t.Errorf("String/GoString leak: %s", out)
	}
	out := fmt.Sprintf("%+v", r)
	for _, want := range []string{redacted, "mcp.example.com", "corr-1", "client_secret_basic"} {
		if !strings.Contains(out, want) {
			t.Errorf("%%+v lacks %q: %s", want, out)
		}
	}
	if !strings.HasPrefix(fmt.Sprintf("%#v", r), "tokenstore.Record{") {
		t.Errorf("%%#v = %s", fmt.Sprintf("%#v", r))
	}
	// Empty secrets print as empty, so presence is visible.
	if out := fmt.Sprintf("%+v", Record{}); strings.Contains(out, redacted) {
		t.Errorf("empty record shows redaction marker: %s", out)
	}
}

func TestRecordLogRedaction(t *testing.T) {
	k := testKey("log")
	r := testRecord(k)
	var tl testLogger
	log := tl.logr()
	log.Info("Saved", "record", r, "value", *r, "client", r.Client)
	log.Error(fmt.Errorf("wrapped: %v", r), "Failed", "record", r)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("Saved", "record", r, "client", r.Client)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("Saved", "record", *r)
	all := strings.Join(tl.lines, "\n") + buf.String()
	if containsSecret(all) {
		t.Fatalf("log output leaks a secret:\n%s", all)
	}
	if !strings.Contains(all, redacted) {
		t.Fatalf("log output lacks the redaction marker:\n%s", all)
	}
}
