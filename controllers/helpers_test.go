package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// createServer creates an UpstreamServer for the oauth server's MCP endpoint.
func createServer(t *testing.T, ns, name, url string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       mcpv1alpha1.UpstreamServerSpec{URL: url},
	}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return us
}

// get reads the server from the API server (not a cache).
func get(t *testing.T, us *mcpv1alpha1.UpstreamServer) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	out := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(us), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Named predicates over a server's status, read from the API server.
func condition(us *mcpv1alpha1.UpstreamServer, typ string) *metav1.Condition {
	return meta.FindStatusCondition(us.Status.Conditions, typ)
}

func isReady(us *mcpv1alpha1.UpstreamServer) bool {
	c := condition(us, mcpv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == us.Generation
}

func needsLogin(us *mcpv1alpha1.UpstreamServer, reason string) bool {
	c := condition(us, mcpv1alpha1.ConditionAuthorizationRequired)
	return c != nil && c.Status == metav1.ConditionTrue && (reason == "" || c.Reason == reason)
}

func waitReady(t *testing.T, us *mcpv1alpha1.UpstreamServer, timeout time.Duration) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	var cur *mcpv1alpha1.UpstreamServer
	testenv.Eventually(t, timeout, us.Name+" Ready", func() bool { cur = get(t, us); return isReady(cur) })
	return cur
}

// annotate sets one annotation on the server.
func annotate(t *testing.T, us *mcpv1alpha1.UpstreamServer, key, value string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value))
	if err := apiClient.Patch(context.Background(), get(t, us), client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
}

func describe(us *mcpv1alpha1.UpstreamServer) string {
	s := ""
	for _, c := range us.Status.Conditions {
		s += fmt.Sprintf("%s=%s(%s: %s) ", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

func clientKey(us *mcpv1alpha1.UpstreamServer) client.ObjectKey {
	return client.ObjectKeyFromObject(us)
}

// countHandOvers counts the hand-over Secrets left in ns.
func countHandOvers(t *testing.T, ns string) int {
	t.Helper()
	var list corev1.SecretList
	if err := apiClient.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{mcpv1alpha1.HandOverServerLabel}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func rawMerge(patch string) client.Patch {
	return client.RawPatch("application/merge-patch+json", []byte(patch))
}
