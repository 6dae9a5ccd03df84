package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestSetReady(t *testing.T) {
	T, F, U := metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown
	cases := map[string]struct {
		auth, conn *metav1.ConditionStatus
		want       metav1.ConditionStatus
	}{
		"authenticated and connected": {&T, &T, T},
		"not authenticated":           {&F, &T, F},
		"not connected":               {&T, &F, F},
		"connection unknown":          {&T, &U, U},
		"nothing known yet":           {nil, nil, U},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			us := &mcpv1alpha1.UpstreamServer{}
			us.Generation = 7
			now := metav1.NewTime(t0)
			if tc.auth != nil {
				setCondition(us, now, mcpv1alpha1.ConditionAuthenticated, *tc.auth, "R", "m")
			}
			if tc.conn != nil {
				setCondition(us, now, mcpv1alpha1.ConditionConnected, *tc.conn, "R", "m")
			}
			setReady(us, now)
			c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
			if c == nil || c.Status != tc.want {
				t.Fatalf("Ready = %v, want %s", c, tc.want)
			}
			if c.ObservedGeneration != 7 {
				t.Fatalf("observedGeneration = %d, want 7", c.ObservedGeneration)
			}
		})
	}
}

func TestSetConditionKeepsTransitionTimeWhenUnchanged(t *testing.T) {
	us := &mcpv1alpha1.UpstreamServer{}
	first := metav1.NewTime(t0)
	later := metav1.NewTime(t0.Add(time.Hour))
	setCondition(us, first, mcpv1alpha1.ConditionConnected, metav1.ConditionTrue, mcpv1alpha1.ReasonConnected, "ok")
	setCondition(us, later, mcpv1alpha1.ConditionConnected, metav1.ConditionTrue, mcpv1alpha1.ReasonConnected, "ok")
	if got := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionConnected).LastTransitionTime; !got.Equal(&first) {
		t.Fatalf("LastTransitionTime moved without a transition: %s", got)
	}
	setCondition(us, later, mcpv1alpha1.ConditionConnected, metav1.ConditionFalse, mcpv1alpha1.ReasonConnectFailed, "down")
	if got := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionConnected).LastTransitionTime; !got.Equal(&later) {
		t.Fatalf("LastTransitionTime did not move on a transition: %s", got)
	}
}

func TestClearingAuthorizationRequiredClearsTheInstructions(t *testing.T) {
	us := &mcpv1alpha1.UpstreamServer{}
	us.Status.Authorization = &mcpv1alpha1.AuthorizationStatus{LoginCommand: "mcpproxy auth login x -n y"}
	applyStatus(us, observed{facts: &lifecycle.Facts{Now: t0}}, lifecycle.Status{
		AuthorizationRequired: &lifecycle.Condition{Status: lifecycle.False, Reason: mcpv1alpha1.ReasonLoginCompleted, Message: "done"}})
	if us.Status.Authorization != nil {
		t.Fatal("status.authorization kept after the requirement was cleared")
	}
}
