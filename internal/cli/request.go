package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// request is a one-shot request to the controller made through an annotation, on a server or
// on a credential (the same annotation; a credential's status echoes it in the same fields).
type request struct {
	use, short, annotation, verb string
	handled                      func(*holder) string
	// succeeded says whether the handled request worked.
	succeeded func(*holder) error
}

func newRefreshCommand(env *Env, kf *kubeFlags) *cobra.Command {
	return newRequestCommand(env, kf, request{
		use: "refresh [NAME | credential/NAME]", short: "Ask the controller to refresh a server's or a credential's token now (bypassing backoff)",
		annotation: mcpv1alpha1.AnnotationRefreshRequestedAt, verb: "refresh",
		handled: func(h *holder) string { return h.lastHandledRefresh },
		succeeded: func(h *holder) error {
			if c := h.cond(mcpv1alpha1.ConditionAuthenticated); c == nil || c.Status != "True" {
				msg := "no Authenticated condition"
				if c != nil {
					msg = c.Reason + ": " + c.Message
				}
				return fmt.Errorf("the refresh did not leave a usable token (%s)", msg)
			}
			if r := h.refresh; r != nil && r.FailedAttempts > 0 {
				return fmt.Errorf("the refresh failed (%d failed attempts): %s", r.FailedAttempts, r.LastFailureReason)
			}
			return nil
		},
	})
}

func newLogoutCommand(env *Env, kf *kubeFlags) *cobra.Command {
	return newRequestCommand(env, kf, request{
		use: "logout [NAME | credential/NAME]", short: "Ask the controller to revoke and forget a server's or a credential's token",
		annotation: mcpv1alpha1.AnnotationLogoutRequestedAt, verb: "logout",
		handled: func(h *holder) string { return h.lastHandledLogout },
		succeeded: func(h *holder) error {
			if h.isTrue(mcpv1alpha1.ConditionAuthenticated) {
				return fmt.Errorf("the %s is still authenticated (%s)", h.noun(), h.reason(mcpv1alpha1.ConditionAuthenticated))
			}
			return nil
		},
	})
}

// annotateRequest sets annotation on the target to at, in the format the controller echoes.
func annotateRequest(ctx context.Context, c client.Client, t target, annotation, verb string, at time.Time) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annotation, at.UTC().Format(time.RFC3339Nano))
	if err := c.Patch(ctx, t.object(), client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("asking for a %s of %s: %w", verb, t, err)
	}
	return nil
}

func newRequestCommand(env *Env, kf *kubeFlags, rq request) *cobra.Command {
	var timeout time.Duration
	var credential string
	cmd := &cobra.Command{
		Use:   rq.use,
		Short: rq.short,
		Long: rq.short + ".\nNAME is an UpstreamServer; credential/NAME, or --credential NAME, an UpstreamCredential (a person's\n" +
			"login to a PerSubject server).\nExit codes: 0 done, 1 failed, 2 timed out.",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: kf.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequest(cmd.Context(), env, kf, rq, args, credential, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "How long to wait for the controller to act.")
	cmd.Flags().StringVar(&credential, "credential", "", "The UpstreamCredential to act on, by `NAME` (a NAME argument, if given, must be its server).")
	_ = cmd.RegisterFlagCompletionFunc("credential", kf.completeCredentials)
	return cmd
}

func runRequest(ctx context.Context, env *Env, kf *kubeFlags, rq request, args []string, credential string, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, ns, err := kf.connect()
	if err != nil {
		return err
	}
	t, err := resolveTarget(ctx, c, ns, args, credential)
	if err != nil {
		return err
	}
	// The controller echoes the annotation's value in status once it handled the request, in
	// the format annotateRequest writes.
	at := env.Now()
	stamp := at.UTC().Format(time.RFC3339Nano)
	if err := annotateRequest(ctx, c, t, rq.annotation, rq.verb, at); err != nil {
		return err
	}
	fmt.Fprintf(env.ErrOut, "Requested a %s of %s (%s=%s)\n", rq.verb, t, rq.annotation, stamp)
	final, err := waitFor(ctx, env, c, t, func(h *holder) (bool, string, error) {
		if rq.handled(h) != stamp {
			return false, "Waiting for the controller to handle the " + rq.verb, nil
		}
		return true, "", nil
	})
	if err != nil {
		if ExitCode(err) == ExitTimedOut {
			return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("the controller did not handle the %s within %s; is it running?", rq.verb, timeout)}
		}
		return err
	}
	printOutcome(env, final)
	if err := rq.succeeded(final); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	return nil
}
