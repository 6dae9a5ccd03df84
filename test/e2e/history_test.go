package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// observation is one version of a server's status, as a watch on the API server delivered it.
type observation struct {
	at            time.Time
	name          string
	ready         metav1.ConditionStatus
	readyReason   string
	authRequired  metav1.ConditionStatus
	authReason    string
	failed        int32
	nextRefresh   time.Time
	failureReason string
}

// history records every status version of the servers of a namespace, so assertions such as
// "AuthorizationRequired was never set" cover every write, not only the moments a poll looked.
type history struct {
	mu  sync.Mutex
	obs []observation
}

// watchHistory starts recording ns until the test ends. A closed watch is resumed from the
// last resource version seen.
func watchHistory(t *testing.T, ns string) *history {
	t.Helper()
	wc, err := client.NewWithWatch(controlPlane.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &history{}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		rv := ""
		for ctx.Err() == nil {
			w, err := wc.Watch(ctx, &mcpv1alpha1.UpstreamServerList{}, client.InNamespace(ns),
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				us, ok := ev.Object.(*mcpv1alpha1.UpstreamServer)
				if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					continue
				}
				rv = us.ResourceVersion
				h.add(us)
			}
			w.Stop()
		}
	}()
	return h
}

func (h *history) add(us *mcpv1alpha1.UpstreamServer) {
	o := observation{at: time.Now(), name: us.Name, ready: condStatus(us, mcpv1alpha1.ConditionReady),
		authRequired: condStatus(us, mcpv1alpha1.ConditionAuthorizationRequired)}
	for _, c := range us.Status.Conditions {
		switch c.Type {
		case mcpv1alpha1.ConditionReady:
			o.readyReason = c.Reason
		case mcpv1alpha1.ConditionAuthorizationRequired:
			o.authReason = c.Reason
		}
	}
	if r := us.Status.Refresh; r != nil {
		o.failed, o.failureReason = r.FailedAttempts, r.LastFailureReason
		if r.NextRefreshTime != nil {
			o.nextRefresh = r.NextRefreshTime.Time
		}
	}
	h.mu.Lock()
	h.obs = append(h.obs, o)
	h.mu.Unlock()
}

// since returns the observations made at or after t.
func (h *history) since(t time.Time) []observation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []observation
	for _, o := range h.obs {
		if !o.at.Before(t) {
			out = append(out, o)
		}
	}
	return out
}

// count counts observations since t for which pred holds.
func (h *history) count(t time.Time, pred func(observation) bool) int {
	n := 0
	for _, o := range h.since(t) {
		if pred(o) {
			n++
		}
	}
	return n
}

// authRequiredSince lists servers seen with AuthorizationRequired=True since t.
func (h *history) authRequiredSince(t time.Time) map[string]string {
	out := map[string]string{}
	for _, o := range h.since(t) {
		if o.authRequired == metav1.ConditionTrue {
			out[o.name] = o.authReason
		}
	}
	return out
}

// notReadySince lists servers seen with Ready other than True since t, with the reason.
func (h *history) notReadySince(t time.Time) map[string]string {
	out := map[string]string{}
	for _, o := range h.since(t) {
		if o.ready != metav1.ConditionTrue {
			out[o.name] = o.readyReason
		}
	}
	return out
}
