package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// prepareCredential finds, creates or updates the credential a login for us is for, before
// any browser opens:
//   - --credential NAME names it; without, it is the default name of the first subject
//     (credentialName), else the one credential of the server listing every subject asked for;
//   - the subjects asked for (--for; default yourself, or for an existing credential the ones it
//     lists) are added to it: subjects are never removed here;
//   - a credential whose token is valid (AuthorizationRequired False) needs no login unless
//     forced: then only the subjects are added (done is true), or, with none to add, the command
//     fails as it does for a server;
//   - a credential holding another person's login is not logged in again unless forced: the new
//     login would make its subjects act upstream as whoever logs in now.
//
// The API server's refusal (RBAC, the upstream-credential-binding policy) is shown as it is.
func prepareCredential(ctx context.Context, env *Env, c client.Client, o *loginOptions, us *mcpv1alpha1.UpstreamServer,
	requested []mcpv1alpha1.CredentialSubject, user string) (cred *mcpv1alpha1.UpstreamCredential, done bool, err error) {
	ns := us.Namespace
	self := func() ([]mcpv1alpha1.CredentialSubject, error) {
		if user == "" {
			return nil, &ExitError{Code: ExitFailed, Err: errors.New("the API server did not say who you are, so the login cannot default to yourself: name the subjects with --for")}
		}
		return []mcpv1alpha1.CredentialSubject{selfSubject(user)}, nil
	}
	name := o.credential
	if name != "" {
		if cred, err = findCredential(ctx, c, ns, name); err != nil {
			return nil, false, err
		}
	} else {
		if len(requested) == 0 {
			if requested, err = self(); err != nil {
				return nil, false, err
			}
		}
		name = upstream.DefaultCredentialName(us.Name, requested[0])
		if cred, err = findCredential(ctx, c, ns, name); err != nil {
			return nil, false, err
		}
		switch {
		case cred != nil && (cred.Spec.ServerRef.Name != us.Name || !hasSubject(cred.Spec.Subjects, requested[0])):
			return nil, false, &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamCredential %s/%s, the default name for %s, exists already for server %s and %s: "+
				"name another credential with --credential NAME", ns, name, subjectRefs(requested[:1])[0], cred.Spec.ServerRef.Name,
				strings.Join(subjectRefs(cred.Spec.Subjects), ", "))}
		case cred == nil:
			if cred, err = listingCredential(ctx, c, us, requested); err != nil {
				return nil, false, err
			}
			if cred != nil {
				name = cred.Name
				fmt.Fprintf(env.ErrOut, "Using UpstreamCredential %s/%s, which lists %s\n", ns, name, strings.Join(subjectRefs(requested), ", "))
			}
		}
	}

	if cred == nil {
		if err := validCredentialName(name); err != nil {
			return nil, false, err
		}
		if len(requested) == 0 {
			if requested, err = self(); err != nil {
				return nil, false, err
			}
		}
		cred = &mcpv1alpha1.UpstreamCredential{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: us.Name}, Subjects: requested},
		}
		if err := c.Create(ctx, cred); err != nil {
			return nil, false, refusal("create UpstreamCredential "+ns+"/"+name, err)
		}
		fmt.Fprintf(env.ErrOut, "Created UpstreamCredential %s/%s for %s\n", ns, name, strings.Join(subjectRefs(requested), ", "))
		return cred, false, nil
	}

	if cred.Spec.ServerRef.Name != us.Name {
		return nil, false, &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamCredential %s/%s is for server %s, not %s", ns, name, cred.Spec.ServerRef.Name, us.Name)}
	}
	var missing []mcpv1alpha1.CredentialSubject
	for _, s := range requested {
		if !hasSubject(cred.Spec.Subjects, s) {
			missing = append(missing, s)
		}
	}
	owner := ""
	if cred.Status.Token != nil {
		owner = cred.Status.Token.ObtainedBy
	}
	if !o.force {
		if err := credentialNeedsLogin(cred); err != nil {
			if len(missing) == 0 {
				return nil, false, err
			}
			if cred, err = addSubjects(ctx, env, c, cred, missing); err != nil {
				return nil, false, err
			}
			fmt.Fprintf(env.ErrOut, "UpstreamCredential %s/%s holds a valid login (of %s): no new login is needed (use --force to log in again)\n",
				ns, name, orDash(owner))
			printOutcome(env, credentialHolder(cred))
			return nil, true, nil
		}
		if err := replacesLogin(cred, user); err != nil {
			return nil, false, err
		}
	}
	if len(missing) > 0 {
		if cred, err = addSubjects(ctx, env, c, cred, missing); err != nil {
			return nil, false, err
		}
	}
	return cred, false, nil
}

// validCredentialName refuses a name the API server would take for an UpstreamCredential but
// not as the value of its hand-overs' mcpproxy.dev/upstream-credential label (longer than 63).
func validCredentialName(name string) error {
	errs := validation.IsDNS1123Subdomain(name)
	if len(errs) == 0 {
		errs = validation.IsValidLabelValue(name)
	}
	if len(errs) > 0 {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("--credential %q cannot name an UpstreamCredential: %s", name, strings.Join(errs, "; "))}
	}
	return nil
}

// replacesLogin refuses a login by user of a credential holding another person's login (a
// rejected refresh token asks for a login, and keeps saying whose it was): its subjects would
// act upstream as user from then on.
func replacesLogin(cred *mcpv1alpha1.UpstreamCredential, user string) error {
	owner := ""
	if cred.Status.Token != nil {
		owner = cred.Status.Token.ObtainedBy
	}
	if owner == "" || user == "" || owner == user {
		return nil
	}
	return &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamCredential %s/%s holds the upstream login of %s: a login now replaces it, "+
		"and %s would act upstream as whoever logs in; use --force to replace it, or name another credential with --credential NAME",
		cred.Namespace, cred.Name, owner, strings.Join(subjectRefs(cred.Spec.Subjects), ", "))}
}

// credentialNeedsLogin refuses a login of a credential whose token the controller reports
// valid. Unlike a server, a credential the controller has not reported on yet (just created,
// say) is logged in.
func credentialNeedsLogin(cred *mcpv1alpha1.UpstreamCredential) error {
	h := credentialHolder(cred)
	if c := h.cond(mcpv1alpha1.ConditionAuthorizationRequired); c != nil && c.Status == metav1.ConditionFalse {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamCredential %s/%s needs no login (AuthorizationRequired is False: %s); use --force to log in anyway",
			cred.Namespace, cred.Name, c.Reason)}
	}
	return nil
}

// findCredential reads credential ns/name; nil when there is none.
func findCredential(ctx context.Context, c client.Client, ns, name string) (*mcpv1alpha1.UpstreamCredential, error) {
	cred := &mcpv1alpha1.UpstreamCredential{}
	err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, cred)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading UpstreamCredential %s/%s: %s", ns, name, oauth.Redact(err.Error()))
	}
	return cred, nil
}

// listingCredential is the one credential of us that lists every subject of requested, nil
// when there is none; several are refused, naming them.
func listingCredential(ctx context.Context, c client.Client, us *mcpv1alpha1.UpstreamServer, requested []mcpv1alpha1.CredentialSubject) (*mcpv1alpha1.UpstreamCredential, error) {
	creds, err := serverCredentials(ctx, c, us.Namespace, us.Name)
	if err != nil {
		return nil, err
	}
	var found []mcpv1alpha1.UpstreamCredential
	for _, cred := range creds {
		all := true
		for _, s := range requested {
			all = all && hasSubject(cred.Spec.Subjects, s)
		}
		if all {
			found = append(found, cred)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	}
	var names []string
	for _, cred := range found {
		names = append(names, cred.Name)
	}
	sort.Strings(names)
	return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("UpstreamCredentials %s of server %s/%s all list %s: name one with --credential NAME",
		strings.Join(names, ", "), us.Namespace, us.Name, strings.Join(subjectRefs(requested), ", "))}
}

// serverCredentials lists the credentials of server ns/name.
func serverCredentials(ctx context.Context, c client.Client, ns, name string) ([]mcpv1alpha1.UpstreamCredential, error) {
	var list mcpv1alpha1.UpstreamCredentialList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing UpstreamCredentials in %s: %s", ns, oauth.Redact(err.Error()))
	}
	var out []mcpv1alpha1.UpstreamCredential
	for _, cred := range list.Items {
		if cred.Spec.ServerRef.Name == name {
			out = append(out, cred)
		}
	}
	return out, nil
}

// addSubjects adds subjects to cred's spec (reading it again on a conflict).
func addSubjects(ctx context.Context, env *Env, c client.Client, cred *mcpv1alpha1.UpstreamCredential, subjects []mcpv1alpha1.CredentialSubject) (*mcpv1alpha1.UpstreamCredential, error) {
	cur := cred.DeepCopy()
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := c.Get(ctx, client.ObjectKeyFromObject(cred), cur); err != nil {
				return err
			}
		}
		first = false
		for _, s := range subjects {
			if !hasSubject(cur.Spec.Subjects, s) {
				cur.Spec.Subjects = append(cur.Spec.Subjects, s)
			}
		}
		return c.Update(ctx, cur)
	})
	if err != nil {
		return nil, refusal("add "+strings.Join(subjectRefs(subjects), ", ")+" to UpstreamCredential "+cred.Namespace+"/"+cred.Name, err)
	}
	fmt.Fprintf(env.ErrOut, "Added %s to UpstreamCredential %s/%s\n", strings.Join(subjectRefs(subjects), ", "), cred.Namespace, cred.Name)
	return cur, nil
}

// refusal is a failed create or update of a credential, with the API server's own message:
// RBAC's, or the upstream-credential-binding policy's (which names the subject and the right
// that is missing).
func refusal(what string, err error) error {
	msg := err.Error()
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		msg = st.Status().Message
	}
	prefix := "could not " + what
	if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
		prefix = "the API server refused to " + what
	}
	return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s: %s", prefix, oauth.Redact(msg))}
}
