package app

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
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

// The typed Secret entry of the cache is the same entry as the metadata one (keyed by GVK), so
// whichever wins, the cache holds no Secret data and no padding.
func TestTypedSecretsLoseTheirDataInTheCache(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "h", Annotations: map[string]string{"pad": "x"},
		Labels: map[string]string{mcpv1alpha1.HandOverServerLabel: "gh"}}, Data: map[string][]byte{"login.json": []byte("{}")}}
	out, err := handOverMetadataOnly(s)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Secret)
	if got.Data != nil || len(got.Annotations) != 0 || got.Labels[mcpv1alpha1.HandOverServerLabel] != "gh" {
		t.Fatalf("the cache would keep %+v", got)
	}
}
