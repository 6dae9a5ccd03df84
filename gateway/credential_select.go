package gateway

import (
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// CredentialHeader names, on a request to a PerSubject server, the UpstreamCredential to use
// among those bound to the caller: a comma-separated list of NAME or NAMESPACE/NAME (a bare
// NAME is in the server's namespace). For each server the entry naming one of its credentials
// applies; it must be bound to the caller, or the request is refused. The gateway never
// forwards it.
const CredentialHeader = "Mcp-Credential"

// serviceAccountPrefix starts the user name the API server gives a ServiceAccount's token.
const serviceAccountPrefix = "system:serviceaccount:"

// credentialMatch is how a credential is bound to a caller.
type credentialMatch struct {
	cred *mcpv1alpha1.UpstreamCredential
	// subject is the subject that matched: the caller's own (User, ServiceAccount) when there
	// is one, else one of the caller's groups.
	subject mcpv1alpha1.CredentialSubject
	direct  bool
}

// matchCredential reports how c is bound to the caller id, if at all. A User subject matches
// the user name, a ServiceAccount subject (namespace, name) the user name
// system:serviceaccount:namespace:name, a Group subject one of the caller's groups; a
// subject naming the caller itself is preferred over a group.
func matchCredential(id *Identity, c *mcpv1alpha1.UpstreamCredential) (credentialMatch, bool) {
	var group *mcpv1alpha1.CredentialSubject
	for i := range c.Spec.Subjects {
		s := &c.Spec.Subjects[i]
		switch s.Kind {
		case mcpv1alpha1.SubjectUser:
			if s.Name == id.Name {
				return credentialMatch{cred: c, subject: *s, direct: true}, true
			}
		case mcpv1alpha1.SubjectServiceAccount:
			if serviceAccountPrefix+s.Namespace+":"+s.Name == id.Name {
				return credentialMatch{cred: c, subject: *s, direct: true}, true
			}
		case mcpv1alpha1.SubjectGroup:
			if group == nil && slices.Contains(id.Groups, s.Name) {
				group = s
			}
		}
	}
	if group == nil {
		return credentialMatch{}, false
	}
	return credentialMatch{cred: c, subject: *group}, true
}

// credentialMatches returns the credentials of creds bound to id, best first: those naming the
// caller itself before those of a group, then the oldest (creationTimestamp, then name).
// Credentials being deleted are left out: their token is being revoked.
func credentialMatches(id *Identity, creds []mcpv1alpha1.UpstreamCredential) []credentialMatch {
	var out []credentialMatch
	for i := range creds {
		if !creds[i].DeletionTimestamp.IsZero() {
			continue
		}
		if m, ok := matchCredential(id, &creds[i]); ok {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b credentialMatch) int {
		switch {
		case a.direct != b.direct:
			if a.direct {
				return -1
			}
			return 1
		case !a.cred.CreationTimestamp.Equal(&b.cred.CreationTimestamp):
			if a.cred.CreationTimestamp.Before(&b.cred.CreationTimestamp) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.cred.Name, b.cred.Name)
	})
	return out
}

// selection is the outcome of choosing a caller's credential for one server.
type selection struct {
	// match is the chosen credential; nil when none is (see refused).
	match *credentialMatch
	// refused is set when the caller's header named a credential that cannot be used.
	refused bool
	// named is what the header named for the server, if anything.
	named string
	// yours are the names of the credentials bound to the caller, best first.
	yours []string
}

// selectCredential chooses the credential of one server (creds: that server's credentials)
// for the caller id. Without a name (named == "") the best match wins; a name must be one of
// the matches, else the selection is refused. Refusing a name that is not the caller's the
// same way whether or not it exists tells nothing about other people's credentials.
func selectCredential(id *Identity, creds []mcpv1alpha1.UpstreamCredential, named string) selection {
	matches := credentialMatches(id, creds)
	sel := selection{named: named}
	for _, m := range matches {
		sel.yours = append(sel.yours, m.cred.Name)
	}
	for i := range matches {
		if named == "" || matches[i].cred.Name == named {
			sel.match = &matches[i]
			return sel
		}
	}
	sel.refused = named != ""
	return sel
}

// credentialEntry is one entry of the CredentialHeader: namespace ("" for a bare name) and
// name; ok is false for a malformed one, kept so the pass-through refuses a typo rather than
// ignoring it.
type credentialEntry struct {
	namespace, name string
	ok              bool
}

// String is the entry as the caller wrote it.
func (e credentialEntry) String() string {
	if e.namespace == "" {
		return e.name
	}
	return e.namespace + "/" + e.name
}

// credentialEntries reads the CredentialHeader entries of h, in order.
func credentialEntries(h http.Header) []credentialEntry {
	var out []credentialEntry
	for _, v := range h.Values(CredentialHeader) {
		for _, raw := range strings.Split(v, ",") {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			e := credentialEntry{name: raw}
			if ns, name, found := strings.Cut(raw, "/"); found {
				e.namespace, e.name = ns, name
			}
			e.ok = len(validation.IsDNS1123Subdomain(e.name)) == 0 &&
				(e.namespace == "" || len(validation.IsDNS1123Label(e.namespace)) == 0)
			out = append(out, e)
		}
	}
	return out
}

// namedFor picks the entry of entries meant for server us, whose credentials are creds: the
// entry naming one of them. It returns the name ("" when no entry is for us), and ambiguous
// when several are. On the pass-through (strict) every entry is meant for the one server, so
// an entry naming none of its credentials is returned as named, and refused by the selection.
func namedFor(entries []credentialEntry, us *mcpv1alpha1.UpstreamServer, creds []mcpv1alpha1.UpstreamCredential, strict bool) (name string, ambiguous bool) {
	var found []string
	for _, e := range entries {
		inNS := e.namespace == "" || e.namespace == us.Namespace
		if !e.ok || !inNS {
			if strict {
				found = append(found, e.String())
			}
			continue
		}
		known := slices.ContainsFunc(creds, func(c mcpv1alpha1.UpstreamCredential) bool { return c.Name == e.name })
		if known || strict {
			found = append(found, e.name)
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	switch len(found) {
	case 0:
		return "", false
	case 1:
		return found[0], false
	}
	return strings.Join(found, ", "), true
}

// callerSubject is the subject naming the caller itself: a ServiceAccount for a
// ServiceAccount's token, else a User.
func callerSubject(id *Identity) mcpv1alpha1.CredentialSubject {
	if rest, ok := strings.CutPrefix(id.Name, serviceAccountPrefix); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok && ns != "" && name != "" && !strings.Contains(name, ":") {
			return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}
		}
	}
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: id.Name}
}

// loginCommandFor is the command that gives the caller a usable credential for us: without a
// match, a login for the caller itself (which creates the credential); for a match, a login
// to that very credential, naming the subject it matched by, so the command changes nothing
// but the login.
func loginCommandFor(id *Identity, us *mcpv1alpha1.UpstreamServer, m *credentialMatch) string {
	if m == nil {
		return upstream.CredentialLoginCommand(us.Namespace, us.Name, callerSubject(id))
	}
	return upstream.CredentialLoginCommand(us.Namespace, us.Name, m.subject) + " --credential " + m.cred.Name
}
