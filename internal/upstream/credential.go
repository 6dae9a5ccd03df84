package upstream

import (
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
// credential's AuthorizationRequired asks for, and what a caller without a credential is told.
func CredentialLoginCommand(ns, server string, subject mcpv1alpha1.CredentialSubject) string {
	return fmt.Sprintf("mcpproxy auth login %s -n %s --for %s", server, ns, shellWord(SubjectRef(subject)))
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
