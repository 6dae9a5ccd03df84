package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

type loginOptions struct {
	force, noBrowser bool
	timeout          time.Duration
	// forRefs are the --for values, credential the --credential name, loginHint --login-hint.
	forRefs    []string
	credential string
	loginHint  string
}

func newLoginCommand(env *Env, kf *kubeFlags) *cobra.Command {
	o := &loginOptions{}
	cmd := &cobra.Command{
		Use:   "login NAME",
		Short: "Log in to an UpstreamServer's authorization server and hand the token to the controller",
		Long: "Runs the OAuth authorization code flow on this machine (browser, loopback callback), hands the token\n" +
			"to the controller in a Secret, and waits until the server is Ready.\n\n" +
			"For a server with spec.credentialMode PerSubject, the login is a person's own: it goes to an\n" +
			"UpstreamCredential, which this command creates (or updates, adding subjects) and which lists the\n" +
			"Kubernetes subjects whose gateway calls act upstream as that person: --for (default: yourself).\n" +
			"NAME may also be credential/NAME, an existing credential.\n" +
			"Exit codes: 0 ready, 1 failed, 2 timed out.",
		Example: "  mcpproxy auth login github -n team-a\n" +
			"  mcpproxy auth login github -n team-a --for serviceaccount/team-a/agent --login-hint alice\n" +
			"  mcpproxy auth login credential/github-user-alice -n team-a",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: kf.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd.Context(), env, kf, *o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "Log in even when the server or credential does not ask for it, or replace the login of another person a credential holds.")
	f.BoolVar(&o.noBrowser, "no-browser", false, "Only print the authorization URL; do not open a browser.")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long to wait for the login and for the server (or credential) to become Ready.")
	f.StringArrayVar(&o.forRefs, "for", nil, "A Kubernetes `SUBJECT` that may use this login (PerSubject servers): "+subjectForms+
		"; repeatable (default: yourself, or the subjects an existing --credential lists).")
	f.StringVar(&o.credential, "credential", "", "The UpstreamCredential to create or update, by `NAME` (PerSubject servers; default: SERVER-sa-NAMESPACE-NAME, "+
		"SERVER-user-NAME or SERVER-group-NAME of the first subject, or the one credential of the server that lists the subjects already).")
	f.StringVar(&o.loginHint, "login-hint", "", "The upstream account (`USER`) to log in as, sent as the authorization request's login_hint (an authorization server may ignore it).")
	_ = cmd.RegisterFlagCompletionFunc("credential", kf.completeCredentials)
	return cmd
}

func runLogin(ctx context.Context, env *Env, kf *kubeFlags, o loginOptions, arg string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, ns, err := kf.connect()
	if err != nil {
		return err
	}
	kind, name, err := parseTargetArg(arg)
	if err != nil {
		return err
	}
	if kind == kindCredential {
		if o.credential != "" && o.credential != name {
			return fmt.Errorf("%s and --credential %s name two credentials", arg, o.credential)
		}
		cred, err := getCredential(ctx, c, ns, name)
		if err != nil {
			return err
		}
		o.credential, name = name, cred.Spec.ServerRef.Name
	}
	us, err := getServer(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if us.Spec.CredentialMode != mcpv1alpha1.CredentialModePerSubject {
		if len(o.forRefs) > 0 || o.credential != "" {
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("server %s is Shared: its login is the server's; set spec.credentialMode: PerSubject "+
				"on UpstreamServer %s/%s to log in for someone (--for, --credential)", name, ns, name)}
		}
		return loginServer(ctx, env, c, &o, us)
	}
	return loginCredential(ctx, env, c, &o, us)
}

// loginServer logs in for a Shared server's own token.
func loginServer(ctx context.Context, env *Env, c client.Client, o *loginOptions, us *mcpv1alpha1.UpstreamServer) error {
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
	res, cid, err := browserLogin(ctx, env, o, us, withLoginHint(cfg, o.loginHint))
	if err != nil {
		return err
	}
	sec, err := handOver(ctx, env, c, us, nil, res, user)
	if err != nil {
		return err
	}
	return awaitLogin(ctx, env, c, o, serverTarget(us.Namespace, us.Name), cid, sec.Name)
}

// loginCredential logs in for a PerSubject server: the token goes to a credential, created or
// updated first so that a refusal (RBAC, the binding policy) comes before the browser.
func loginCredential(ctx context.Context, env *Env, c client.Client, o *loginOptions, us *mcpv1alpha1.UpstreamServer) error {
	requested, err := parseSubjects(o.forRefs)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	user := createdBy(ctx, env, c)
	cred, done, err := prepareCredential(ctx, env, c, o, us, requested, user)
	if err != nil || done {
		return err
	}
	cfg, err := oauthConfig(ctx, c, us)
	if err != nil {
		return err
	}
	if len(cred.Spec.Scopes) > 0 {
		cfg.Scopes = slices.Clone(cred.Spec.Scopes)
	}
	res, cid, err := browserLogin(ctx, env, o, us, withLoginHint(cfg, o.loginHint))
	if err != nil {
		return err
	}
	sec, err := handOver(ctx, env, c, us, cred, res, user)
	if err != nil {
		return err
	}
	return awaitLogin(ctx, env, c, o, credentialTarget(cred.Namespace, cred.Name), cid, sec.Name)
}

// withLoginHint is cfg asking the authorization server to log hint in (OpenID Connect's
// login_hint), on a copy of the spec's extra parameters.
func withLoginHint(cfg oauth.Config, hint string) oauth.Config {
	if hint == "" {
		return cfg
	}
	params := make(map[string]string, len(cfg.ExtraParams)+1)
	maps.Copy(params, cfg.ExtraParams)
	params["login_hint"] = hint
	cfg.ExtraParams = params
	return cfg
}

// browserLogin runs the authorization code flow for us with cfg, returning its result and
// correlation ID, or an ExitError that says what went wrong.
func browserLogin(ctx context.Context, env *Env, o *loginOptions, us *mcpv1alpha1.UpstreamServer, cfg oauth.Config) (*oauth.LoginResult, string, error) {
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
		return nil, "", &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s/%s (%s) needs no login: it answers without a token", us.Namespace, us.Name, us.Spec.URL)}
	case errors.Is(err, oauth.ErrLoginTimeout), errors.Is(err, context.DeadlineExceeded):
		return nil, "", &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("login timed out after %s: %s", o.timeout, oauth.Redact(err.Error()))}
	case err != nil:
		return nil, "", &ExitError{Code: ExitFailed, Err: fmt.Errorf("login failed: %s", oauth.Redact(err.Error()))}
	}
	fmt.Fprintf(env.ErrOut, "Logged in to %s (correlation ID %s)\n", res.Discovery.Issuer, cid)
	return res, cid, nil
}

// awaitLogin waits for the controller's word on hand-over secret of flow cid, and prints it.
func awaitLogin(ctx context.Context, env *Env, c client.Client, o *loginOptions, t target, cid, secret string) error {
	final, err := waitFor(ctx, env, c, t, func(h *holder) (bool, string, error) {
		return loginOutcome(h, cid, secret)
	})
	if err != nil {
		if ExitCode(err) == ExitTimedOut {
			return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("the controller did not report the %s Ready within %s; "+
				"is it running? The hand-over Secret %s stays until it is taken over", t.noun(), o.timeout, secret)}
		}
		return err
	}
	printOutcome(env, final)
	return nil
}

// handOver gives the login's result to the controller in a hand-over Secret for us (cred nil)
// or for credential cred of us, unless either was deleted, replaced or changed while the
// browser was open. The Secret names user as its creator (when known): the hand-over
// admission policy admits it only from that user.
func handOver(ctx context.Context, env *Env, c client.Client, us *mcpv1alpha1.UpstreamServer, cred *mcpv1alpha1.UpstreamCredential,
	res *oauth.LoginResult, user string) (*corev1.Secret, error) {
	ns, name := us.Namespace, us.Name
	cur, err := getServer(ctx, c, ns, name)
	if err != nil {
		return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("the server went away during the login: %w", err)}
	}
	if cur.UID != us.UID || cur.Spec.URL != us.Spec.URL || cur.Spec.CredentialMode != us.Spec.CredentialMode {
		return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamServer %s/%s was replaced or changed during the login; run the command again", ns, name)}
	}
	data, err := browserlogin.HandOver(res, cur.Spec.URL, env.Now()).Encode()
	if err != nil {
		return nil, fmt.Errorf("encoding the hand-over: %w", err)
	}
	var sec *corev1.Secret
	if cred == nil {
		sec = mcpv1alpha1.NewHandOverSecret(cur, data)
	} else {
		now, err := getCredential(ctx, c, cred.Namespace, cred.Name)
		if err != nil {
			return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("the credential went away during the login: %w", err)}
		}
		if now.UID != cred.UID || now.Spec.ServerRef != cred.Spec.ServerRef {
			return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamCredential %s/%s was replaced during the login; run the command again", now.Namespace, now.Name)}
		}
		sec = mcpv1alpha1.NewCredentialHandOverSecret(now, data)
	}
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

// loginOutcome decides whether the hand-over of flow cid (in Secret secretName) to a server
// or a credential has finished. The controller took it over when status carries the flow's
// correlation ID, or LoginAccepted says it stored that Secret (a refresh right after may have
// replaced the ID already).
func loginOutcome(h *holder, cid, secretName string) (bool, string, error) {
	if msg := rejectionOf(h, secretName); msg != "" {
		return true, "", &ExitError{Code: ExitFailed, Err: fmt.Errorf("the controller rejected the login: %s", msg)}
	}
	if h.lastCorrelationID != cid && !storedOf(h, secretName) {
		return false, "Waiting for the controller to take the login over", nil
	}
	noun := h.noun()
	ready := h.cond(mcpv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		return false, "Waiting for the " + noun + " to become Ready", nil
	case ready.Status == "True":
		return true, "", nil
	case ready.Reason == mcpv1alpha1.ReasonReconciling || ready.Status == "Unknown":
		return false, "Waiting for the " + noun + " to become Ready: " + ready.Message, nil
	}
	return true, "", &ExitError{Code: ExitFailed, Err: fmt.Errorf("the token was stored but the %s is not Ready (%s): %s", noun, ready.Reason, ready.Message)}
}

// rejectionOf is the controller's word that it rejected hand-over secretName, or "".
// LoginAccepted says so even while the server holds another valid token (a --force login);
// a manager older than that condition says it only in AuthorizationRequired.
func rejectionOf(h *holder, secretName string) string {
	for typ, status := range map[string]metav1.ConditionStatus{
		mcpv1alpha1.ConditionLoginAccepted: metav1.ConditionFalse, mcpv1alpha1.ConditionAuthorizationRequired: metav1.ConditionTrue,
	} {
		c := h.cond(typ)
		// The controller's message starts with the Secret's name; a later planted hand-over's
		// reason may quote any name, so only the start counts.
		if c != nil && c.Status == status && c.Reason == mcpv1alpha1.ReasonHandOverRejected &&
			strings.HasPrefix(c.Message, "Login hand-over "+secretName+" was rejected") {
			return c.Message
		}
	}
	return ""
}

// storedOf says whether LoginAccepted reports hand-over secretName stored.
func storedOf(h *holder, secretName string) bool {
	c := h.cond(mcpv1alpha1.ConditionLoginAccepted)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == mcpv1alpha1.ReasonLoginCompleted &&
		strings.HasPrefix(c.Message, "Login hand-over "+secretName+" was stored")
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
