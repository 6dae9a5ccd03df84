package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// A refresh request naming a credential reaches the credential's queue, not its server's: a
// PerSubject server holds no token to refresh.
func TestSignalsRouteCredentialRequestsToTheCredential(t *testing.T) {
	s := NewSignals()
	server := types.NamespacedName{Namespace: "team-a", Name: "gh"}
	s.RequestRefresh(upstream.RefreshRequest{Server: server, Credential: "alice", RejectedRevision: 5})
	alice := types.NamespacedName{Namespace: "team-a", Name: "alice"}
	if got := s.credentials.rejectedRevision(alice); got != 5 {
		t.Fatalf("alice's rejected revision = %d, want 5", got)
	}
	if _, ok := s.credentials.early[alice]; !ok {
		t.Fatal("alice was not enqueued")
	}
	if s.rejectedRevision(server) != 0 || len(s.servers.early) != 0 {
		t.Fatal("the server was asked to refresh a credential's token")
	}
	s.RequestRefresh(upstream.RefreshRequest{Server: server, RejectedRevision: 7})
	if s.rejectedRevision(server) != 7 || s.credentials.rejectedRevision(alice) != 5 {
		t.Fatal("a server's request and a credential's were mixed up")
	}
}
