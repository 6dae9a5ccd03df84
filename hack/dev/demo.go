package main

import (
	"context"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// The sample server the demo declares.
const (
	demoName      = "demo"
	demoNamespace = "default"
)

func newClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := mcpv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// applyDemo creates (or points back) the sample UpstreamServer at the demo MCP server. The
// control plane's data is temporary, so this runs at every start.
func applyDemo(ctx context.Context, c client.Client, mcpURL string) error {
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: demoName, Namespace: demoNamespace}}
	err := c.Get(ctx, client.ObjectKeyFromObject(us), us)
	switch {
	case apierrors.IsNotFound(err):
		us.Spec.URL = mcpURL
		err = c.Create(ctx, us)
	case err == nil && us.Spec.URL != mcpURL:
		us.Spec.URL = mcpURL
		err = c.Update(ctx, us)
	}
	if err != nil {
		return fmt.Errorf("applying the demo UpstreamServer: %w", err)
	}
	return nil
}

// watchDemo prints a line to out whenever the demo server's state changes, until ctx ends.
// It polls the API server once a second: simple, and a demo needs nothing faster.
func watchDemo(ctx context.Context, c client.Client, out io.Writer) {
	last := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		us := &mcpv1alpha1.UpstreamServer{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: demoName}, us); err == nil {
			if s := summarize(us); s != last {
				fmt.Fprintf(out, "[status]  %s/%s: %s\n", demoNamespace, demoName, s)
				last = s
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// summarize describes the server's conditions and token in one line.
func summarize(us *mcpv1alpha1.UpstreamServer) string {
	st := us.Status
	s := "Ready=" + conditionText(st.Conditions, mcpv1alpha1.ConditionReady)
	if c := meta.FindStatusCondition(st.Conditions, mcpv1alpha1.ConditionAuthorizationRequired); c != nil && c.Status == metav1.ConditionTrue {
		s += " AuthorizationRequired=True (" + c.Reason + ")"
		if st.Authorization != nil && st.Authorization.LoginCommand != "" {
			s += ": run " + st.Authorization.LoginCommand
		}
	}
	if t := st.Token; t != nil {
		if t.ExpiresAt != nil {
			s += " token expires " + t.ExpiresAt.Local().Format(time.TimeOnly)
		}
		if t.LastRefreshTime != nil {
			s += ", last refreshed " + t.LastRefreshTime.Local().Format(time.TimeOnly)
		}
	}
	if r := st.Refresh; r != nil && r.FailedAttempts > 0 {
		s += fmt.Sprintf(" (%d failed refreshes: %s)", r.FailedAttempts, r.LastFailureReason)
	}
	return s
}

func conditionText(conds []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return "Unknown"
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}
