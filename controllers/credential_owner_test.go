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
		"the holder wins over the creator":            {withCreator(held("alice"), "carol"), "carol", true},
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

// Before anyone has logged in, a credential belongs to its creator: the first login comes from
// them alone, never from anyone else allowed to log in to the server (the creator's agents would
// write into that person's account), not even a user the credential lists (who would race the
// creator's own login in and own the credential for good).
func TestTheFirstLoginComesFromTheCreatorOrABoundUser(t *testing.T) {
	created := withCreator(&mcpv1alpha1.UpstreamCredential{Spec: mcpv1alpha1.UpstreamCredentialSpec{Subjects: []mcpv1alpha1.CredentialSubject{
		{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: "team-a", Name: "alice-agent"},
		{Kind: mcpv1alpha1.SubjectUser, Name: "alice"},
		{Kind: mcpv1alpha1.SubjectGroup, Name: "devs"},
	}}}, "admin")
	for name, tc := range map[string]struct {
		c       *mcpv1alpha1.UpstreamCredential
		by      string
		refused bool
	}{
		"the creator":                             {created, "admin", false},
		"a user it lists":                         {created, "alice", true},
		"someone else":                            {created, "carol", true},
		"the name of a group it lists":            {created, "devs", true},
		"the name of a ServiceAccount it lists":   {created, "alice-agent", true},
		"nobody named":                            {created, "", true},
		"no creator recorded (no policy): anyone": {withCreator(created.DeepCopy(), ""), "carol", false},
	} {
		t.Run(name, func(t *testing.T) {
			err := replacesOwnersLogin(tc.c, tc.by)
			if (err != nil) != tc.refused {
				t.Fatalf("err = %v, want refused %t", err, tc.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "belongs to admin, who created it") {
				t.Errorf("message %q does not name the creator", err)
			}
		})
	}
}

func withCreator(c *mcpv1alpha1.UpstreamCredential, creator string) *mcpv1alpha1.UpstreamCredential {
	c.Annotations = nil
	if creator != "" {
		c.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: creator}
	}
	return c
}
