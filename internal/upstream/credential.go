package upstream

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// SubjectRef is how a command line names a subject: serviceaccount/NAMESPACE/NAME, user/NAME
// or group/NAME (the value of `mcpproxy auth login --for`).
func SubjectRef(s mcpv1alpha1.CredentialSubject) string {
	switch s.Kind {
	case mcpv1alpha1.SubjectServiceAccount:
		return "serviceaccount/" + s.Namespace + "/" + s.Name
	case mcpv1alpha1.SubjectGroup:
		return "group/" + s.Name
	}
	return "user/" + s.Name
}

// CredentialLoginCommand is the command that logs in to server ns/server for subject: what a
// caller without a credential is told.
func CredentialLoginCommand(ns, server string, subject mcpv1alpha1.CredentialSubject) string {
	return fmt.Sprintf("mcpproxy auth login %s -n %s --for %s", server, ns, shellWord(SubjectRef(subject)))
}

// LoginCommandFor is the command that logs in for credential name of server ns/server, whose
// first subject is subject: what its AuthorizationRequired asks for. It names the credential
// when the CLI would not find it by the subject alone (its name is not the default one).
func LoginCommandFor(ns, server, name string, subject mcpv1alpha1.CredentialSubject) string {
	cmd := CredentialLoginCommand(ns, server, subject)
	if name != DefaultCredentialName(server, subject) {
		cmd += " --credential " + name
	}
	return cmd
}

// MaxCredentialName bounds a derived credential name: it is also the value of the hand-over
// Secret's mcpproxy.dev/upstream-credential label, which is at most 63 characters.
const MaxCredentialName = 63

// DefaultCredentialName is the default name of server's credential for subject: SERVER-sa-NS-NAME,
// SERVER-user-NAME or SERVER-group-NAME, a DNS-1123 label (so also a valid label value). A
// name that had to change to be one (upper case, a character other than a letter, digit or
// '-', more than 63 characters) is shortened to leave room for, and ends in, 8 hex digits of
// a hash of server and subject, so two subjects that read alike still get two names.
func DefaultCredentialName(server string, s mcpv1alpha1.CredentialSubject) string {
	parts := []string{server}
	switch s.Kind {
	case mcpv1alpha1.SubjectServiceAccount:
		parts = append(parts, "sa", s.Namespace, s.Name)
	case mcpv1alpha1.SubjectGroup:
		parts = append(parts, "group", s.Name)
	default:
		parts = append(parts, "user", s.Name)
	}
	raw := strings.Join(parts, "-")
	name := strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, raw), "-")
	if name == raw && len(name) <= MaxCredentialName {
		return name
	}
	sum := sha256.Sum256([]byte(server + "/" + SubjectRef(s)))
	suffix := hex.EncodeToString(sum[:4])
	if len(name) > MaxCredentialName-len(suffix)-1 {
		name = name[:MaxCredentialName-len(suffix)-1]
	}
	name = strings.TrimRight(name, "-")
	if name == "" {
		return "c-" + suffix
	}
	return name + "-" + suffix
}

// shellWord quotes s for a POSIX shell when it holds more than a name's characters (a user
// name may be an e-mail address, or hold spaces).
func shellWord(s string) string {
	plain := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@._:/=+-", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
