package controllers

import (
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// setCondition sets one condition of a server, stamping observedGeneration.
func setCondition(us *mcpv1alpha1.UpstreamServer, now metav1.Time, typ string, status metav1.ConditionStatus, reason, message string) {
	setConditionOn(&us.Status.Conditions, us.Generation, now, typ, status, reason, message)
}

// setConditionOn sets one condition of conds for generation gen. meta.SetStatusCondition keeps
// LastTransitionTime when the status did not change, so an unchanged condition causes no write.
func setConditionOn(conds *[]metav1.Condition, gen int64, now metav1.Time, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            bounded(message),
		ObservedGeneration: gen,
		LastTransitionTime: now,
	})
}

// setReady derives Ready from the other conditions: (Authenticated or no auth needed) and Connected,
// or for a PerSubject server, its authorization server discovered. Unknown when either input is Unknown.
func setReady(us *mcpv1alpha1.UpstreamServer, now metav1.Time) {
	auth := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionAuthenticated)
	conn := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionConnected)
	switch {
	case auth == nil || conn == nil || auth.Status == metav1.ConditionUnknown || conn.Status == metav1.ConditionUnknown:
		msg := "The controller could not tell yet"
		if conn != nil && conn.Status == metav1.ConditionUnknown {
			msg = conn.Message
		}
		setCondition(us, now, mcpv1alpha1.ConditionReady, metav1.ConditionUnknown, mcpv1alpha1.ReasonReconciling, msg)
	case auth.Reason == mcpv1alpha1.ReasonPerSubject:
		// A PerSubject server holds no token by design: it is usable once its authorization
		// server is known, each caller with a credential of their own.
		setCondition(us, now, mcpv1alpha1.ConditionReady, metav1.ConditionTrue, mcpv1alpha1.ReasonAuthorizationServerDiscovered,
			"The authorization server was discovered; each caller uses their own UpstreamCredential (counted in status.credentials)")
	case auth.Status != metav1.ConditionTrue:
		setCondition(us, now, mcpv1alpha1.ConditionReady, metav1.ConditionFalse, auth.Reason, auth.Message)
	case conn.Status != metav1.ConditionTrue:
		setCondition(us, now, mcpv1alpha1.ConditionReady, metav1.ConditionFalse, conn.Reason, conn.Message)
	default:
		setCondition(us, now, mcpv1alpha1.ConditionReady, metav1.ConditionTrue, mcpv1alpha1.ReasonReady, "The server is authenticated and connected")
	}
}

// maxMessage bounds what a condition message or an event carries. A message may quote what a
// hand-over or a server said; the API refuses a whole status patch over a condition message
// longer than 32 KiB (and an event note over 1 KiB), which would freeze the server's status.
const maxMessage = 1024

// bounded cuts s to maxMessage bytes at a character boundary, marking the cut.
func bounded(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	const mark = "… (cut)"
	cut := maxMessage - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
