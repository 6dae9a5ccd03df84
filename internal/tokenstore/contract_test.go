package tokenstore_test

import (
	"path/filepath"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

// TestContract runs the store contract (internal/tokenstore/storetest), which the Kubernetes
// Secrets backend passes too, against bbolt.
func TestContract(t *testing.T) {
	open := func(t *testing.T, path, keyFile string) tokenstore.Backend {
		s, err := tokenstore.Open(path, tokenstore.Options{KeyFile: keyFile, NoSync: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	paths := map[tokenstore.Backend]string{}
	storetest.Run(t, storetest.Fixture{
		Open: func(t *testing.T, keyFile string) tokenstore.Backend {
			path := filepath.Join(t.TempDir(), "tokens.db")
			s := open(t, path, keyFile)
			paths[s] = path
			return s
		},
		Reopen: func(t *testing.T, s tokenstore.Backend, keyFile string) tokenstore.Backend {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := open(t, paths[s], keyFile)
			paths[s2] = paths[s]
			return s2
		},
		Waiters: func(s tokenstore.Backend) int64 { return tokenstore.WaitersOf(s.(*tokenstore.Store)) },
	})
}
