package gateway

import (
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"runtime"
	"sync"
	"weak"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// schemaOf returns schema s as a *jsonschema.Schema when that form encodes to exactly what s
// does (and, for an input schema, says type "object"), else s itself. Every /mcp session has
// a server of its own, and the SDK's AddTool encodes and decodes a schema of any other form
// each time: with 100 servers that was 300 round trips through JSON per new session, 11% of
// the manager's CPU in the bench's gateway phase and much of its garbage. Done once per tool
// list here instead, and only where nothing changes for a client.
//
// Equal schemas share one parsed form (schemas, below): servers of one kind list the same
// tools, and a parsed schema costs kilobytes (a quarter of the manager's live heap at
// N=10,000).
func schemaOf(s any, input bool) any {
	if s == nil {
		return nil
	}
	if _, ok := s.(*jsonschema.Schema); ok {
		return s
	}
	b, err := json.Marshal(s)
	if err != nil {
		return s
	}
	k := schemaKey{sum: sha256.Sum256(b), input: input}
	if js := schemas.get(k); js != nil {
		return js
	}
	js := &jsonschema.Schema{}
	if json.Unmarshal(b, js) != nil || input && js.Type != "object" {
		return s
	}
	again, err := json.Marshal(js)
	if err != nil {
		return s
	}
	var was, is any
	if json.Unmarshal(b, &was) != nil || json.Unmarshal(again, &is) != nil || !reflect.DeepEqual(was, is) {
		return s
	}
	return schemas.put(k, js)
}

// internSchemas replaces, in place, the schemas of a session's tool list by their shared
// parsed form (schemaOf), and returns the list. The session and the catalog hold the list for as
// long as the session lives; the maps its JSON decoded to were most of what a catalog session
// held per server (8 KiB for three small tools), and equal schemas of a fleet were held once per
// server. A schema whose parsed form would change what a client sees stays as it came.
func internSchemas(tools []*mcp.Tool) []*mcp.Tool {
	for _, t := range tools {
		t.InputSchema = schemaOf(t.InputSchema, true)
		t.OutputSchema = schemaOf(t.OutputSchema, false)
	}
	return tools
}

// schemaKey names a schema by its encoding, and by the check it passed (an input schema must
// say type "object").
type schemaKey struct {
	sum   [32]byte
	input bool
}

// schemaTable holds each parsed schema once, weakly: a schema no exposed tool holds any more is
// collected and its entry removed. Shared schemas are safe because nothing changes one after
// schemaOf (the SDK's AddTool only reads it).
type schemaTable struct {
	mu sync.Mutex
	m  map[schemaKey]weak.Pointer[jsonschema.Schema]
}

var schemas = &schemaTable{m: map[schemaKey]weak.Pointer[jsonschema.Schema]{}}

func (t *schemaTable) get(k schemaKey) *jsonschema.Schema {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[k].Value()
}

// put holds js under k, or returns the schema held already (another tool list raced it in).
func (t *schemaTable) put(k schemaKey, js *jsonschema.Schema) *jsonschema.Schema {
	t.mu.Lock()
	defer t.mu.Unlock()
	if held := t.m[k].Value(); held != nil {
		return held
	}
	t.m[k] = weak.Make(js)
	runtime.AddCleanup(js, t.forget, k)
	return js
}

// forget drops k's entry once its schema is collected (unless a new one took its place).
func (t *schemaTable) forget(k schemaKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[k].Value() == nil {
		delete(t.m, k)
	}
}

// holds reports whether k has an entry (its schema may be waiting for collection).
func (t *schemaTable) holds(k schemaKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[k]
	return ok
}
