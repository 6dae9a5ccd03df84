package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// request is a one-shot request to the controller made through an annotation.
type request struct {
	use, short, annotation, verb string
	// ask sets the annotation to at.
	ask     func(ctx context.Context, c client.Client, nn types.NamespacedName, at time.Time) error
	handled func(*mcpv1alpha1.UpstreamServer) string
	// succeeded says whether the handled request worked.
	succeeded func(*mcpv1alpha1.UpstreamServer) error
}

func newRefreshCommand(env *Env, kf *kubeFlags) *cobra.Command {
	return newRequestCommand(env, kf, request{
		use: "refresh NAME", short: "Ask the controller to refresh a server's token now (bypassing backoff)",
		annotation: mcpv1alpha1.AnnotationRefreshRequestedAt, verb: "refresh", ask: upstream.AnnotateRefreshRequest,
		handled: func(us *mcpv1alpha1.UpstreamServer) string { return us.Status.LastHandledRefreshRequest },
		succeeded: func(us *mcpv1alpha1.UpstreamServer) error {
			if c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionAuthenticated); c == nil || c.Status != "True" {
				msg := "no Authenticated condition"
				if c != nil {
					msg = c.Reason + ": " + c.Message
				}
				return fmt.Errorf("the refresh did not leave a usable token (%s)", msg)
			}
			if r := us.Status.Refresh; r != nil && r.FailedAttempts > 0 {
				return fmt.Errorf("the refresh failed (%d failed attempts): %s", r.FailedAttempts, r.LastFailureReason)
			}
			return nil
		},
	})
}

func newLogoutCommand(env *Env, kf *kubeFlags) *cobra.Command {
	return newRequestCommand(env, kf, request{
		use: "logout NAME", short: "Ask the controller to revoke and forget a server's token",
		annotation: mcpv1alpha1.AnnotationLogoutRequestedAt, verb: "logout", ask: annotateLogout,
		handled: func(us *mcpv1alpha1.UpstreamServer) string { return us.Status.LastHandledLogoutRequest },
		succeeded: func(us *mcpv1alpha1.UpstreamServer) error {
			if upstream.IsTrue(us, mcpv1alpha1.ConditionAuthenticated) {
				return fmt.Errorf("the server is still authenticated (%s)", upstream.ConditionReason(us, mcpv1alpha1.ConditionAuthenticated))
			}
			return nil
		},
	})
}

// annotateLogout sets mcpproxy.dev/logout-requested-at on a server to at.
func annotateLogout(ctx context.Context, c client.Client, nn types.NamespacedName, at time.Time) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationLogoutRequestedAt, at.UTC().Format(time.RFC3339Nano))
	obj := &mcpv1alpha1.UpstreamServer{}
	obj.Namespace, obj.Name = nn.Namespace, nn.Name
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("asking for a logout of %s: %w", nn, err)
	}
	return nil
}

func newRequestCommand(env *Env, kf *kubeFlags, rq request) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:               rq.use,
		Short:             rq.short,
		Long:              rq.short + ".\nExit codes: 0 done, 1 failed, 2 timed out.",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: kf.completeServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequest(cmd.Context(), env, kf, rq, args[0], timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "How long to wait for the controller to act.")
	return cmd
}

func runRequest(ctx context.Context, env *Env, kf *kubeFlags, rq request, name string, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, ns, err := kf.connect()
	if err != nil {
		return err
	}
	if _, err := getServer(ctx, c, ns, name); err != nil {
		return err
	}
	// The controller echoes the annotation's value in status once it handled the request, in
	// the format the ask functions write.
	at := env.Now()
	stamp := at.UTC().Format(time.RFC3339Nano)
	if err := rq.ask(ctx, c, types.NamespacedName{Namespace: ns, Name: name}, at); err != nil {
		return err
	}
	fmt.Fprintf(env.ErrOut, "Requested a %s of %s/%s (%s=%s)\n", rq.verb, ns, name, rq.annotation, stamp)
	final, err := waitFor(ctx, env, c, types.NamespacedName{Namespace: ns, Name: name}, func(us *mcpv1alpha1.UpstreamServer) (bool, string, error) {
		if rq.handled(us) != stamp {
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
