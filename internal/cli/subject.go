package cli

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// subjectForms is what a --for value may look like, for error messages.
const subjectForms = "serviceaccount/NAMESPACE/NAME, user/NAME or group/NAME"

// serviceAccountUserPrefix starts the user name Kubernetes gives a ServiceAccount.
const serviceAccountUserPrefix = "system:serviceaccount:"

// parseSubject reads one --for value: serviceaccount/NAMESPACE/NAME (or sa/…), user/NAME or
// group/NAME, the kind in any case. A user or group name is the rest of the value and may hold
// slashes (an OIDC user name can be a URL). The user name of a ServiceAccount
// (user/system:serviceaccount:NS:NAME) is that ServiceAccount: the gateway and the binding
// policy know a ServiceAccount by its kind.
func parseSubject(ref string) (mcpv1alpha1.CredentialSubject, error) {
	ref = strings.TrimSpace(ref)
	kind, rest, ok := strings.Cut(ref, "/")
	if !ok || kind == "" {
		return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: name a subject as %s", ref, subjectForms)
	}
	switch strings.ToLower(kind) {
	case "serviceaccount", "serviceaccounts", "sa":
		ns, name, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(name, "/") {
			return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: a ServiceAccount is serviceaccount/NAMESPACE/NAME", ref)
		}
		return serviceAccountSubject(ref, ns, name)
	case "user", "users":
		if rest == "" {
			return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: the user name is empty (user/NAME)", ref)
		}
		if sa, ok := strings.CutPrefix(rest, serviceAccountUserPrefix); ok {
			ns, name, ok := strings.Cut(sa, ":")
			if !ok {
				return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: a ServiceAccount's user name is %sNAMESPACE:NAME", ref, serviceAccountUserPrefix)
			}
			return serviceAccountSubject(ref, ns, name)
		}
		return namedSubject(ref, mcpv1alpha1.SubjectUser, rest)
	case "group", "groups":
		if rest == "" {
			return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: the group name is empty (group/NAME)", ref)
		}
		return namedSubject(ref, mcpv1alpha1.SubjectGroup, rest)
	}
	return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: unknown kind %q: name a subject as %s", ref, kind, subjectForms)
}

func serviceAccountSubject(ref, ns, name string) (mcpv1alpha1.CredentialSubject, error) {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: %q is not a namespace name: %s", ref, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: %q is not a ServiceAccount name: %s", ref, name, strings.Join(errs, "; "))
	}
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}, nil
}

func namedSubject(ref string, kind mcpv1alpha1.SubjectKind, name string) (mcpv1alpha1.CredentialSubject, error) {
	// The API's limit; any other character is the authenticator's business.
	if len(name) > 253 {
		return mcpv1alpha1.CredentialSubject{}, fmt.Errorf("--for %q: a %s name is at most 253 characters", ref, strings.ToLower(string(kind)))
	}
	return mcpv1alpha1.CredentialSubject{Kind: kind, Name: name}, nil
}

// parseSubjects reads every --for value, in order, without repeats.
func parseSubjects(refs []string) ([]mcpv1alpha1.CredentialSubject, error) {
	var out []mcpv1alpha1.CredentialSubject
	for _, ref := range refs {
		s, err := parseSubject(ref)
		if err != nil {
			return nil, err
		}
		if !hasSubject(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// selfSubject is the subject a Kubernetes user name is: a ServiceAccount for
// system:serviceaccount:NS:NAME, else a User.
func selfSubject(user string) mcpv1alpha1.CredentialSubject {
	if sa, ok := strings.CutPrefix(user, serviceAccountUserPrefix); ok {
		if ns, name, ok := strings.Cut(sa, ":"); ok && ns != "" && name != "" && !strings.Contains(name, ":") {
			return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}
		}
	}
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: user}
}

func hasSubject(list []mcpv1alpha1.CredentialSubject, s mcpv1alpha1.CredentialSubject) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// subjectRefs is subjects as --for values.
func subjectRefs(subjects []mcpv1alpha1.CredentialSubject) []string {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		out = append(out, upstream.SubjectRef(s))
	}
	return out
}
