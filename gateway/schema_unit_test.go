package gateway

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/types"
)

// Servers of one kind list equal tools: their exposed tools share one parsed schema, while a
// schema that differs in anything, or passed another check (input or output), has its own.
func TestEqualSchemasAreParsedAndHeldOnce(t *testing.T) {
	const echo = `{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`
	const other = `{"type":"object","properties":{"text":{"type":"string"}},"required":[]}`
	expose := func(server, s string) *mcp.Tool {
		tool := &mcp.Tool{Name: "echo", InputSchema: upstreamSchema(t, s), OutputSchema: upstreamSchema(t, s)}
		return exposeTool(types.NamespacedName{Namespace: "ns", Name: server}, tool, "ns."+server+".echo").tool
	}
	a, b, c := expose("a", echo), expose("b", echo), expose("c", other)
	for _, tc := range []struct {
		what  string
		x, y  any
		share bool
	}{
		{"two servers' equal input schemas", a.InputSchema, b.InputSchema, true},
		{"two servers' equal output schemas", a.OutputSchema, b.OutputSchema, true},
		{"schemas that differ", a.InputSchema, c.InputSchema, false},
		{"an input and an output schema", a.InputSchema, a.OutputSchema, false},
	} {
		if same := fmt.Sprintf("%p", tc.x) == fmt.Sprintf("%p", tc.y); same != tc.share {
			t.Errorf("%s: shared %v, want %v", tc.what, same, tc.share)
		}
	}
}

// A schema no exposed tool holds any more is collected, and its entry leaves the table: a
// server replaced by another kind does not pin its old tools' schemas.
func TestUnheldSchemasLeaveTheTable(t *testing.T) {
	sent := map[string]any{"type": "object", "title": fmt.Sprint("unique ", time.Now().UnixNano())}
	b, _ := json.Marshal(sent)
	k := schemaKey{sum: sha256.Sum256(b), input: true}
	held := schemaOf(sent, true)
	if !schemas.holds(k) {
		t.Fatal("the table does not hold the schema")
	}
	runtime.KeepAlive(held)
	held = nil
	for deadline := time.Now().Add(20 * time.Second); schemas.holds(k); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("after 20s of collections the table still holds the schema nothing uses")
		}
		runtime.GC()
	}
}

// upstreamSchema is schema s as an upstream's tool list decodes it: a JSON object as a map.
func upstreamSchema(t *testing.T, s string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
