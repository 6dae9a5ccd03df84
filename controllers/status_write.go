package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// patchStatusIfChanged writes obj's status once, as a merge patch from orig, and only when
// origStatus and newStatus differ: servers and credentials both patch status this way.
func patchStatusIfChanged(ctx context.Context, c client.StatusClient, orig, obj client.Object, origStatus, newStatus any) error {
	if equality.Semantic.DeepEqual(origStatus, newStatus) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	statusPatches.Inc()
	return nil
}

// emitEvents sends a pass's events on obj after status is written, each carrying the pass's
// correlation ID and bounded in length.
func emitEvents(rec events.EventRecorder, obj runtime.Object, correlationID string, evs []lifecycle.Event) {
	if rec == nil {
		return
	}
	for _, e := range evs {
		typ := corev1.EventTypeNormal
		if e.Warning {
			typ = corev1.EventTypeWarning
		}
		msg := e.Message
		if correlationID != "" {
			msg += " (correlationID " + correlationID + ")"
		}
		rec.Eventf(obj, nil, typ, e.Reason, e.Action, "%s", bounded(msg))
	}
}
