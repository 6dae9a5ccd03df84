package controllers

import (
	"testing"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// The lifecycle names its reasons itself so that it need not import Kubernetes; status shows
// them as the API's reasons, so the two lists must agree.
func TestLifecycleReasonsAreTheAPIReasons(t *testing.T) {
	for got, want := range map[string]string{
		lifecycle.ReasonTokenValid: mcpv1alpha1.ReasonTokenValid, lifecycle.ReasonNoAuthRequired: mcpv1alpha1.ReasonNoAuthRequired,
		lifecycle.ReasonNoToken: mcpv1alpha1.ReasonNoToken, lifecycle.ReasonTokenExpired: mcpv1alpha1.ReasonTokenExpired,
		lifecycle.ReasonRefreshFailing: mcpv1alpha1.ReasonRefreshFailing, lifecycle.ReasonRefreshTokenRejected: mcpv1alpha1.ReasonRefreshTokenRejected,
		lifecycle.ReasonLoggedOut: mcpv1alpha1.ReasonLoggedOut, lifecycle.ReasonLoginCompleted: mcpv1alpha1.ReasonLoginCompleted,
		lifecycle.ReasonHandOverRejected: mcpv1alpha1.ReasonHandOverRejected, lifecycle.ReasonTokenStoreError: mcpv1alpha1.ReasonTokenStoreError,
		lifecycle.ReasonDiscoveryFailed: mcpv1alpha1.ReasonDiscoveryFailed, lifecycle.ReasonEgressDenied: mcpv1alpha1.ReasonEgressDenied,
		lifecycle.ReasonLimitExceeded:    mcpv1alpha1.ReasonLimitExceeded,
		lifecycle.ReasonRefreshThrottled: mcpv1alpha1.ReasonRefreshThrottled, lifecycle.ReasonInsufficientScope: mcpv1alpha1.ReasonInsufficientScope, lifecycle.ReasonConfigInvalid: mcpv1alpha1.ReasonConfigInvalid,
		lifecycle.ReasonConnected: mcpv1alpha1.ReasonConnected, lifecycle.ReasonConnectFailed: mcpv1alpha1.ReasonConnectFailed,
		lifecycle.ReasonDisconnected: mcpv1alpha1.ReasonDisconnected, lifecycle.ReasonSuspended: mcpv1alpha1.ReasonSuspended,
		lifecycle.ReasonAuthorizationNotNeeded: mcpv1alpha1.ReasonAuthorizationNotNeeded,
		lifecycle.ReasonPerSubject:             mcpv1alpha1.ReasonPerSubject,
	} {
		if got != want {
			t.Errorf("lifecycle reason %q, API reason %q", got, want)
		}
	}
}
