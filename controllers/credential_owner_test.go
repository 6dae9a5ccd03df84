package controllers

import (
	"strings"
	"testing"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// A credential that holds alice's login takes a new login only from alice: anyone else with
// verb login on the server would slip their own upstream account under alice's agents.
func TestOnlyTheHolderLogsInAgainForACredential(t *testing.T) {
	held := func(by string) *mcpv1alpha1.UpstreamCredential {
		c := &mcpv1alpha1.UpstreamCredential{}
		if by != "" {
			c.Status.Token = &mcpv1alpha1.TokenStatus{ObtainedBy: by}
		}
		return c
	}
	for name, tc := range map[string]struct {
		c       *mcpv1alpha1.UpstreamCredential
		by      string
		refused bool
	}{
		"no login held: anyone the policies admitted": {held(""), "carol", false},
		"the holder logs in again":                    {held("alice"), "alice", false},
		"someone else":                                {held("alice"), "carol", true},
		"nobody named":                                {held("alice"), "", true},
		"logged out, the owner stays":                 {&mcpv1alpha1.UpstreamCredential{Status: mcpv1alpha1.UpstreamCredentialStatus{Owner: "alice"}}, "carol", true},
	} {
		t.Run(name, func(t *testing.T) {
			err := replacesOwnersLogin(tc.c, tc.by)
			if (err != nil) != tc.refused {
				t.Fatalf("err = %v, want refused %t", err, tc.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "holds the upstream login of alice") {
				t.Errorf("message %q does not name whose login is held", err)
			}
		})
	}
}
