package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

func newCredential(name string, spec mcpv1alpha1.UpstreamCredentialSpec) *mcpv1alpha1.UpstreamCredential {
	return &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: spec}
}

func linear(subjects ...mcpv1alpha1.CredentialSubject) mcpv1alpha1.UpstreamCredentialSpec {
	return mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "linear"}, Subjects: subjects}
}

// wantInvalid fails unless err is the API server's Invalid answer saying message.
func wantInvalid(t *testing.T, err error, message string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("the API server accepted it, want a refusal saying %q", message)
	case !apierrors.IsInvalid(err):
		t.Fatalf("want an Invalid error, got %v", err)
	case !strings.Contains(err.Error(), message):
		t.Fatalf("error %q does not say %q", err, message)
	}
}

func TestInvalidCredentialsAreRejectedWithAClearMessage(t *testing.T) {
	ctx := context.Background()
	sa := mcpv1alpha1.SubjectServiceAccount
	cases := map[string]struct {
		spec    mcpv1alpha1.UpstreamCredentialSpec
		message string // a phrase the API server's answer must contain
	}{
		"no subjects":       {linear(), "spec.subjects"},
		"empty subjects":    {mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "linear"}, Subjects: []mcpv1alpha1.CredentialSubject{}}, "should have at least 1 items"},
		"no serverRef name": {mcpv1alpha1.UpstreamCredentialSpec{Subjects: []mcpv1alpha1.CredentialSubject{{Kind: mcpv1alpha1.SubjectUser, Name: "alice"}}}, "spec.serverRef.name"},
		"a ServiceAccount without a namespace": {linear(mcpv1alpha1.CredentialSubject{Kind: sa, Name: "agent"}),
			"namespace is required for a ServiceAccount and not allowed for a User or Group"},
		"a User with a namespace": {linear(mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: "alice", Namespace: "team-a"}),
			"namespace is required for a ServiceAccount and not allowed for a User or Group"},
		"a Group with a namespace": {linear(mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectGroup, Name: "devs", Namespace: "team-a"}),
			"namespace is required for a ServiceAccount and not allowed for a User or Group"},
		"a kind outside the enum": {linear(mcpv1alpha1.CredentialSubject{Kind: "Node", Name: "n1"}),
			`spec.subjects[0].kind: Unsupported value: "Node"`},
		"a subject without a name": {linear(mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser}), "spec.subjects[0].name"},
		"more than 32 subjects": {linear(func() []mcpv1alpha1.CredentialSubject {
			var s []mcpv1alpha1.CredentialSubject
			for i := range 33 {
				s = append(s, mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: fmt.Sprintf("u%d", i)})
			}
			return s
		}()...), "must have at most 32 items"},
	}
	i := 0
	for name, tc := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			wantInvalid(t, k8sClient.Create(ctx, newCredential(fmt.Sprintf("invalid-credential-%d", i), tc.spec)), tc.message)
		})
	}
}

func TestValidCredentialsAreAccepted(t *testing.T) {
	ctx := context.Background()
	c := newCredential("valid-credential", mcpv1alpha1.UpstreamCredentialSpec{
		ServerRef: mcpv1alpha1.ServerReference{Name: "linear"},
		Subjects: []mcpv1alpha1.CredentialSubject{
			{Kind: mcpv1alpha1.SubjectServiceAccount, Name: "agent", Namespace: "team-a"},
			{Kind: mcpv1alpha1.SubjectUser, Name: "alice"},
			{Kind: mcpv1alpha1.SubjectGroup, Name: "devs"},
		},
		Scopes: []string{"read"},
	})
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatalf("valid credential rejected: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, c) })
}

func TestCredentialServerRefIsImmutable(t *testing.T) {
	ctx := context.Background()
	c := newCredential("immutable-server-ref", linear(mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: "alice"}))
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, c) })

	moved := c.DeepCopy()
	moved.Spec.ServerRef.Name = "github"
	wantInvalid(t, k8sClient.Update(ctx, moved), "serverRef is immutable; create another credential")

	// The rest of the spec may change.
	c.Spec.Subjects = append(c.Spec.Subjects, mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectGroup, Name: "devs"})
	c.Spec.Suspend = true
	if err := k8sClient.Update(ctx, c); err != nil {
		t.Fatalf("changing subjects and suspend was refused: %v", err)
	}
	var got mcpv1alpha1.UpstreamCredential
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServerRef.Name != "linear" || len(got.Spec.Subjects) != 2 || !got.Spec.Suspend {
		t.Fatalf("stored spec %+v", got.Spec)
	}
}

func TestCredentialModeIsAnEnumDefaultingToShared(t *testing.T) {
	ctx := context.Background()
	wantInvalid(t, k8sClient.Create(ctx, newServer("credential-mode-bad", mcpv1alpha1.UpstreamServerSpec{
		URL: "https://mcp.example.com/mcp", CredentialMode: "PerUser"})), `spec.credentialMode: Unsupported value: "PerUser"`)

	for name, mode := range map[string]mcpv1alpha1.CredentialMode{
		"credential-mode-default": "", "credential-mode-per-subject": mcpv1alpha1.CredentialModePerSubject} {
		us := newServer(name, mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp", CredentialMode: mode})
		if err := k8sClient.Create(ctx, us); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(ctx, us) })
		var got mcpv1alpha1.UpstreamServer
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(us), &got); err != nil {
			t.Fatal(err)
		}
		want := mode
		if want == "" {
			want = mcpv1alpha1.CredentialModeShared
		}
		if got.Spec.CredentialMode != want {
			t.Errorf("%s: credentialMode %q, want %q", name, got.Spec.CredentialMode, want)
		}
	}
}

// A PerSubject server stays PerSubject: switched to Shared, whoever logged in next would act
// upstream for every person's agents. Shared may become PerSubject.
func TestCredentialModePerSubjectCannotBeSwitchedBack(t *testing.T) {
	ctx := context.Background()
	shared := newServer("credential-mode-upgrade", mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp"})
	if err := k8sClient.Create(ctx, shared); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, shared) })
	shared.Spec.CredentialMode = mcpv1alpha1.CredentialModePerSubject
	if err := k8sClient.Update(ctx, shared); err != nil {
		t.Fatalf("Shared → PerSubject was refused: %v", err)
	}

	for name, mode := range map[string]mcpv1alpha1.CredentialMode{"to Shared": mcpv1alpha1.CredentialModeShared, "unset": ""} {
		var cur mcpv1alpha1.UpstreamServer
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(shared), &cur); err != nil {
			t.Fatal(err)
		}
		cur.Spec.CredentialMode = mode
		wantInvalid(t, k8sClient.Update(ctx, &cur), "credentialMode PerSubject cannot be changed")
		t.Logf("%s: refused", name)
	}
	// Other edits of a PerSubject server pass.
	var cur mcpv1alpha1.UpstreamServer
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(shared), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Suspend = true
	if err := k8sClient.Update(ctx, &cur); err != nil {
		t.Fatalf("suspending a PerSubject server was refused: %v", err)
	}
}
