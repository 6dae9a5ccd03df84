package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

type loginOptions struct {
	force, noBrowser bool
	timeout          time.Duration
}

func newLoginCommand(env *Env, kf *kubeFlags) *cobra.Command {
	o := &loginOptions{}
	cmd := &cobra.Command{
		Use:   "login NAME",
		Short: "Log in to an UpstreamServer's authorization server and hand the token to the controller",
		Long: "Runs the OAuth authorization code flow on this machine (browser, loopback callback), hands the token\n" +
			"to the controller in a Secret, and waits until the server is Ready.\n" +
			"Exit codes: 0 ready, 1 failed, 2 timed out.",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: kf.completeServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd.Context(), env, kf, o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "Log in even when the server does not ask for it.")
	f.BoolVar(&o.noBrowser, "no-browser", false, "Only print the authorization URL; do not open a browser.")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long to wait for the login and for the server to become Ready.")
	return cmd
}

func runLogin(ctx context.Context, env *Env, kf *kubeFlags, o *loginOptions, name string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, ns, err := kf.connect()
	if err != nil {
		return err
	}
	us, err := getServer(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if !o.force {
		if err := needsLogin(us); err != nil {
			return err
		}
	}
	cfg, err := oauthConfig(ctx, c, us)
	if err != nil {
		return err
	}
	// Before the browser opens, so a warning about it is not lost in the flow's output.
	user := createdBy(ctx, env, c)
	cid := oauth.NewCorrelationID()
	ctx = oauth.WithCorrelationID(ctx, cid)
	deadline, _ := ctx.Deadline()
	res, err := oauth.Login(ctx, cfg, oauth.LoginOptions{
		OpenBrowser: browserOpener(env, o.noBrowser),
		Timeout:     time.Until(deadline),
		Now:         env.Now,
	})
	switch {
	case errors.Is(err, oauth.ErrNoAuthRequired):
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s/%s (%s) needs no login: it answers without a token", ns, name, us.Spec.URL)}
	case errors.Is(err, oauth.ErrLoginTimeout), errors.Is(err, context.DeadlineExceeded):
		return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("login timed out after %s: %s", o.timeout, oauth.Redact(err.Error()))}
	case err != nil:
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("login failed: %s", oauth.Redact(err.Error()))}
	}
	fmt.Fprintf(env.ErrOut, "Logged in to %s (correlation ID %s)\n", res.Discovery.Issuer, cid)
	sec, err := handOver(ctx, env, c, us, res, user)
	if err != nil {
		return err
	}
	final, err := waitFor(ctx, env, c, types.NamespacedName{Namespace: ns, Name: name}, func(us *mcpv1alpha1.UpstreamServer) (bool, string, error) {
		return loginOutcome(us, cid, sec.Name)
	})
	if err != nil {
		if ExitCode(err) == ExitTimedOut {
			return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("the controller did not report the server Ready within %s; "+
				"is it running? The hand-over Secret %s stays until it is taken over", o.timeout, sec.Name)}
		}
		return err
	}
	printOutcome(env, final)
	return nil
}

// handOver gives the login's result to the controller in a hand-over Secret for us, unless
// the server was deleted or replaced while the browser was open. The Secret names user as its
// creator (when known): the hand-over admission policy admits it only from that user.
func handOver(ctx context.Context, env *Env, c client.Client, us *mcpv1alpha1.UpstreamServer, res *oauth.LoginResult, user string) (*corev1.Secret, error) {
	ns, name := us.Namespace, us.Name
	cur, err := getServer(ctx, c, ns, name)
	if err != nil {
		return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("the server went away during the login: %w", err)}
	}
	if cur.UID != us.UID || cur.Spec.URL != us.Spec.URL {
		return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamServer %s/%s was replaced or changed during the login; run the command again", ns, name)}
	}
	data, err := browserlogin.HandOver(res, cur.Spec.URL, env.Now()).Encode()
	if err != nil {
		return nil, fmt.Errorf("encoding the hand-over: %w", err)
	}
	sec := mcpv1alpha1.NewHandOverSecret(cur, data)
	if user != "" {
		sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: user}
	}
	if err := c.Create(ctx, sec); err != nil {
		return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("handing the login over (creating a Secret in %s): %s", ns, oauth.Redact(err.Error()))}
	}
	fmt.Fprintf(env.ErrOut, "Handed the token to the controller (Secret %s/%s)\n", ns, sec.Name)
	return sec, nil
}

// needsLogin refuses a login the controller has not asked for.
func needsLogin(us *mcpv1alpha1.UpstreamServer) error {
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired)
	switch {
	case c == nil:
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s/%s does not ask for a login (the controller has not reported on it yet); use --force to log in anyway", us.Namespace, us.Name)}
	case c.Status != "True":
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s/%s needs no login (AuthorizationRequired is %s: %s); use --force to log in anyway", us.Namespace, us.Name, c.Status, c.Reason)}
	}
	return nil
}

// loginOutcome decides whether the hand-over of flow cid (in Secret secretName) has finished.
func loginOutcome(us *mcpv1alpha1.UpstreamServer, cid, secretName string) (bool, string, error) {
	if msg := rejectionOf(us, secretName); msg != "" {
		return true, "", &ExitError{Code: ExitFailed, Err: fmt.Errorf("the controller rejected the login: %s", msg)}
	}
	if us.Status.LastCorrelationID != cid {
		return false, "Waiting for the controller to take the login over", nil
	}
	ready := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		return false, "Waiting for the server to become Ready", nil
	case ready.Status == "True":
		return true, "", nil
	case ready.Reason == mcpv1alpha1.ReasonReconciling || ready.Status == "Unknown":
		return false, "Waiting for the server to become Ready: " + ready.Message, nil
	}
	return true, "", &ExitError{Code: ExitFailed, Err: fmt.Errorf("the token was stored but the server is not Ready (%s): %s", ready.Reason, ready.Message)}
}

// rejectionOf is the controller's word that it rejected hand-over secretName, or "".
// LoginAccepted says so even while the server holds another valid token (a --force login);
// a manager older than that condition says it only in AuthorizationRequired.
func rejectionOf(us *mcpv1alpha1.UpstreamServer, secretName string) string {
	for typ, status := range map[string]metav1.ConditionStatus{
		mcpv1alpha1.ConditionLoginAccepted: metav1.ConditionFalse, mcpv1alpha1.ConditionAuthorizationRequired: metav1.ConditionTrue,
	} {
		c := meta.FindStatusCondition(us.Status.Conditions, typ)
		// The controller's message starts with the Secret's name; a later planted hand-over's
		// reason may quote any name, so only the start counts.
		if c != nil && c.Status == status && c.Reason == mcpv1alpha1.ReasonHandOverRejected &&
			strings.HasPrefix(c.Message, "Login hand-over "+secretName+" was rejected") {
			return c.Message
		}
	}
	return ""
}

// browserOpener always prints the URL, and opens a browser unless noBrowser.
func browserOpener(env *Env, noBrowser bool) func(string) error {
	return func(authURL string) error {
		fmt.Fprintf(env.ErrOut, "Open this URL in a browser to log in:\n\n    %s\n\n", oauth.Redact(authURL))
		if noBrowser {
			return nil
		}
		open := env.OpenBrowser
		if open == nil {
			open = browserlogin.OpenURL
		}
		if err := open(authURL); err != nil {
			fmt.Fprintf(env.ErrOut, "Could not open a browser (%s); open the URL above yourself.\n", oauth.Redact(err.Error()))
		}
		return nil
	}
}

// oauthConfig builds the OAuth client configuration from the spec, reading the client secret.
func oauthConfig(ctx context.Context, c client.Client, us *mcpv1alpha1.UpstreamServer) (oauth.Config, error) {
	cfg := oauth.Config{ServerURL: us.Spec.URL}
	o := us.Spec.OAuth
	if o == nil {
		return cfg, nil
	}
	cfg.ClientID, cfg.ClientMetadataURL, cfg.Scopes = o.ClientID, o.ClientMetadataURL, o.Scopes
	cfg.Resource, cfg.AuthorizationServer, cfg.ExtraParams = o.Resource, o.AuthorizationServer, o.ExtraParams
	if ref := o.ClientSecretRef; ref != nil {
		// The controller's own rule, read with the user's credentials: a Secret the controller
		// would refuse (not opted in with mcpproxy.dev/allowed-servers) fails the login before
		// the browser opens, with the same message.
		v, err := upstream.SecretValue(ctx, c, us, *ref, "spec.oauth.clientSecretRef")
		if err != nil {
			return cfg, err
		}
		cfg.ClientSecret = v
	}
	return cfg, nil
}
