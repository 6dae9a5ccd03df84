package controllers

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// credentialObserved is what a credential's observe read.
type credentialObserved struct {
	observed
	// serverReason says why the credential cannot be used as its server stands
	// (ServerNotFound, NotPerSubject), or is empty. The facts then carry it as ConfigErr, so
	// the lifecycle does nothing but refuse the hand-overs waiting.
	serverReason string
}

// observe reads everything a credential's pass decides on, and writes nothing: its server's
// config (with the credential's scopes), the stored token, its hand-overs, pending requests
// and what status remembered. There is no session to look at.
func (r *UpstreamCredentialReconciler) observe(ctx context.Context, c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer, log logr.Logger) credentialObserved {
	f := &lifecycle.Facts{Now: r.Clock.Now(), Suspended: c.Spec.Suspend, Prev: fromCredentialStatus(&c.Status),
		PrevCurrent: c.Status.ObservedGeneration == c.Generation}
	obs := credentialObserved{observed: observed{facts: f}}
	f.Config, obs.serverReason, f.ConfigErr = r.config(ctx, c, us)
	if f.ConfigErr != nil {
		f.HandOvers, obs.handOverUIDs = r.handOvers(ctx, c, us, log)
		return obs
	}
	// A suspended server suspends its credentials: nobody refreshes for it.
	f.Key, f.Suspended = upstream.CredentialStoreKey(us, c), f.Suspended || us.Spec.Suspend
	f.Unsaved = r.lifecycle().Unsaved(f.Key)
	if !loadRecord(r.Store, f, log) {
		return obs
	}
	pendingRequests(&obs.observed, c.Annotations, c.Status.LastHandledRefreshRequest, c.Status.LastHandledLogoutRequest)
	f.HandOvers, obs.handOverUIDs = r.handOvers(ctx, c, us, log)
	if r.signals != nil {
		f.RejectedRevision = r.signals.rejectedRevision(types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
	}
	f.RejectedRevision = reportedRejection(c.Annotations, f.RejectedRevision)
	f.Verified = f.PrevCurrent && verified(c)
	return obs
}

// verified: Ready says the MCP server accepted the stored token. Ready is Verified only in the
// pass that proved the token now stored, so it speaks for that token until a new one.
func verified(c *mcpv1alpha1.UpstreamCredential) bool {
	ready := meta.FindStatusCondition(c.Status.Conditions, mcpv1alpha1.ConditionReady)
	return ready != nil && ready.Status == "True" && ready.Reason == mcpv1alpha1.ReasonVerified
}

// config is the server's config as the credential uses it: the credential's own keys, login
// command and scopes, no session. A server that is missing or not PerSubject is a ConfigErr
// with the reason Ready shows.
func (r *UpstreamCredentialReconciler) config(ctx context.Context, c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) (lifecycle.Config, string, error) {
	own := func(cfg lifecycle.Config) lifecycle.Config {
		cfg.OneShot, cfg.PerSubject, cfg.BrowserLogin = true, false, false
		cfg.SessionKey, cfg.JitterKey = upstream.CredentialSessionKey(c), upstream.CredentialSessionKey(c)
		cfg.LoginCommand = credentialLoginCommand(c)
		if len(c.Spec.Scopes) > 0 {
			cfg.OAuth.Scopes = c.Spec.Scopes // a subset, or a step-up
		}
		return cfg
	}
	switch {
	case us == nil:
		return own(lifecycle.Config{}), mcpv1alpha1.ReasonServerNotFound, fmt.Errorf(
			"UpstreamServer %q does not exist in namespace %s: create it (credentialMode: PerSubject), or fix spec.serverRef.name",
			c.Spec.ServerRef.Name, c.Namespace)
	case !perSubject(us):
		return own(lifecycle.Config{}), mcpv1alpha1.ReasonNotPerSubject, fmt.Errorf(
			"UpstreamServer %q has credentialMode Shared: its one token serves every caller and this credential is not used; "+
				"set spec.credentialMode: PerSubject on the server to use a login per person", us.Name)
	}
	cfg, err := serverConfig(ctx, r.APIReader, us)
	return own(cfg), "", err
}

// handOvers lists the credential's login hand-overs, each validated against its server and
// owned by the credential.
func (r *UpstreamCredentialReconciler) handOvers(ctx context.Context, c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer, log logr.Logger) ([]lifecycle.HandOver, map[string]types.UID) {
	validate := func(sec *corev1.Secret) (*tokenstore.Record, error) {
		switch s := sec.Labels[mcpv1alpha1.HandOverServerLabel]; {
		case s != c.Spec.ServerRef.Name:
			return nil, fmt.Errorf("it is labelled for UpstreamServer %q, but the credential is for %q", short(s), c.Spec.ServerRef.Name)
		case us == nil:
			return nil, fmt.Errorf("UpstreamServer %q does not exist", c.Spec.ServerRef.Name)
		}
		rec, err := validateHandOver(us, handOverOwner{kind: "UpstreamCredential", uid: c.UID}, sec)
		if err == nil {
			err = replacesOwnersLogin(c, rec.ObtainedBy)
		}
		return rec, err
	}
	return readHandOvers(ctx, r.Client, r.APIReader, c.Namespace, credentialHandOvers(c.Name), validate, log)
}

// replacesOwnersLogin refuses a login handed over by someone other than the person the
// credential belongs to. The credential's subjects act upstream as whoever logged in last; a
// person allowed to log in to the server, but not to act as those subjects, would otherwise
// slip their own account under another person's agents (and harvest what they write). The
// holder of its login logs in again freely; anyone else creates a credential of their own.
// Before anyone has logged in, the first login comes from its creator alone (the created-by
// annotation, written by the upstream-credential-creator admission policy): not from a user it
// lists as a subject, who would otherwise race the creator's own login in and own the
// credential for good. (created-by on the hand-over is verified by the login-handover
// admission policy where it is installed.)
func replacesOwnersLogin(c *mcpv1alpha1.UpstreamCredential, by string) error {
	who := by
	if who == "" {
		who = "someone unnamed"
	}
	owner := c.Status.Owner
	if owner == "" && c.Status.Token != nil {
		owner = c.Status.Token.ObtainedBy
	}
	if owner != "" {
		if owner == by {
			return nil
		}
		return fmt.Errorf("it was handed over by %s, but the credential holds the upstream login of %s: only %s may log in "+
			"for it again; create another UpstreamCredential for your own login, or delete this one first",
			short(who), owner, owner)
	}
	creator := c.Annotations[mcpv1alpha1.AnnotationCreatedBy]
	if creator == "" || creator == by {
		return nil
	}
	return fmt.Errorf("it was handed over by %s, but nobody has logged in for the credential yet and it belongs to %s, "+
		"who created it: its first login comes from %s; create another UpstreamCredential for your own login",
		short(who), short(creator), short(creator))
}
