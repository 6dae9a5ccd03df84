package app

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// The metadata cache keeps both labels of a credential's hand-over: the server reconciler
// selects its own hand-overs by the credential label's absence, the credential reconciler by
// its value. Every other label goes.
func TestHandOverMetadataKeepsTheServerAndCredentialLabels(t *testing.T) {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "h", Labels: map[string]string{
		mcpv1alpha1.HandOverServerLabel: "gh", mcpv1alpha1.HandOverCredentialLabel: "alice", "padding": "x"}}}
	out, err := handOverMetadataOnly(m)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*metav1.PartialObjectMetadata).Labels
	if len(got) != 2 || got[mcpv1alpha1.HandOverServerLabel] != "gh" || got[mcpv1alpha1.HandOverCredentialLabel] != "alice" {
		t.Fatalf("labels kept: %v", got)
	}
}
