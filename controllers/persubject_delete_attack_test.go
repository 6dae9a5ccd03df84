package controllers_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// Bob (editor) may not free the name of the PerSubject server gh for a Shared server holding his
// own login, which alice's agent, allowed `use` on gh by name, would then call as bob: he may
// neither delete gh, nor give it an owner reference for the garbage collector to delete it by,
// nor create a PerSubject server that has one. An administrator may delete it. (Before, the
// editor role's delete and create did it, bypassing the CRD rule against switching back: an
// attack helper's test showed alice's agent answered as bob.)
func TestAnEditorCannotFreeAPerSubjectServersName(t *testing.T) {
	_, _, ns, us, c, _ := attackSetup(t)
	testenv.InstallServerPolicy(t, ns)
	ctx := context.Background()
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	const refusal = "that needs verb delete-persubject on upstreamservers/gh"

	checkAdmission(t, bob.Delete(ctx, get(t, us)), "user bob may not delete the PerSubject UpstreamServer "+ns+"/gh: "+refusal)
	owned := get(t, us)
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "bobs", UID: "0f2c4a1e-0000-4000-8000-000000000001"}}
	checkAdmission(t, bob.Update(ctx, owned), "user bob may not set owner references on the PerSubject UpstreamServer "+ns+"/gh")
	fresh := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "gh2", Namespace: ns, OwnerReferences: owned.OwnerReferences},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: us.Spec.URL, CredentialMode: mcpv1alpha1.CredentialModePerSubject}}
	checkAdmission(t, bob.Create(ctx, fresh, client.DryRunAll), "needs verb delete-persubject on upstreamservers/gh2")

	// Other edits pass; a Shared server is deleted as before; the server and alice's login stay.
	suspended := get(t, us)
	suspended.Spec.Suspend = true
	checkAdmission(t, bob.Update(ctx, suspended), "")
	shared := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: ns}, Spec: mcpv1alpha1.UpstreamServerSpec{URL: us.Spec.URL}}
	checkAdmission(t, bob.Create(ctx, shared), "")
	checkAdmission(t, bob.Delete(ctx, shared), "")
	if gone(t, us) || getCredential(t, c).Status.Owner != "alice" {
		t.Fatal("gh or alice's login is gone")
	}
	// An administrator (who may delete-persubject) deletes it.
	checkAdmission(t, apiClient.Delete(ctx, get(t, us), client.DryRunAll), "")
}
