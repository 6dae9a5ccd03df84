package upstream

import (
	"testing"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

func TestCredentialLoginCommandNamesTheSubjectAsTheCLITakesIt(t *testing.T) {
	for want, s := range map[string]mcpv1alpha1.CredentialSubject{
		"mcpproxy auth login gh -n team-a --for serviceaccount/team-a/agent": {Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: "team-a", Name: "agent"},
		"mcpproxy auth login gh -n team-a --for user/alice@example.com":      {Kind: mcpv1alpha1.SubjectUser, Name: "alice@example.com"},
		"mcpproxy auth login gh -n team-a --for group/system:authenticated":  {Kind: mcpv1alpha1.SubjectGroup, Name: "system:authenticated"},
		`mcpproxy auth login gh -n team-a --for 'user/Bob O'\''Neil'`:        {Kind: mcpv1alpha1.SubjectUser, Name: "Bob O'Neil"},
	} {
		if got := CredentialLoginCommand("team-a", "gh", s); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}
