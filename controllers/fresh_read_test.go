package controllers

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// oneObject is a reader holding one version of a server (or failing), counting its reads.
type oneObject struct {
	rv    string
	err   error
	reads int
}

func (o *oneObject) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	o.reads++
	if o.err != nil {
		return o.err
	}
	obj.(*mcpv1alpha1.UpstreamServer).ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: o.rv}
	return nil
}

func (o *oneObject) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

// A reconcile reads the cache's copy only when it is not older than the version the last
// reconcile left; anything else (never seen, the cache lagging our patch, a version that does
// not compare, a cache error) goes to the API server.
func TestReadUsesTheCacheOnlyWhenNothingWroteSince(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "s"}
	for name, tc := range map[string]struct {
		noted, cached string
		cacheErr      error
		wantCache     bool
	}{
		"never seen":                             {noted: "", cached: "7"},
		"the cache holds what we left":           {noted: "7", cached: "7", wantCache: true},
		"the cache lags behind our last patch":   {noted: "8", cached: "7"},
		"someone wrote since (the cache has it)": {noted: "7", cached: "9", wantCache: true},
		"shorter is older":                       {noted: "10", cached: "9"},
		"a version that does not compare":        {noted: "7", cached: "x7"},
		"the cache fails":                        {noted: "7", cacheErr: errors.New("not synced")},
	} {
		t.Run(name, func(t *testing.T) {
			var l lastSeen
			if tc.noted != "" {
				l.note(&mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", ResourceVersion: tc.noted}})
			}
			cache, api := &oneObject{rv: tc.cached, err: tc.cacheErr}, &oneObject{rv: "api"}
			us := &mcpv1alpha1.UpstreamServer{}
			cached, err := l.read(context.Background(), cache, api, key, us)
			if err != nil || cached != tc.wantCache {
				t.Fatalf("cached=%t err=%v, want cached=%t", cached, err, tc.wantCache)
			}
			if want := map[bool]string{true: tc.cached, false: "api"}[tc.wantCache]; us.ResourceVersion != want {
				t.Fatalf("read version %q, want %q", us.ResourceVersion, want)
			}
			if api.reads != map[bool]int{true: 0, false: 1}[tc.wantCache] {
				t.Fatalf("%d API reads", api.reads)
			}
		})
	}
	var l lastSeen
	l.note(&mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", ResourceVersion: "7"}})
	l.forget(key)
	if _, ok := l.get(key); ok {
		t.Fatal("a forgotten object is still remembered")
	}
}
