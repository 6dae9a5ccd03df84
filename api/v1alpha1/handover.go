/*
Copyright 2026 The mcpproxy-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The login hand-over: `mcpproxy auth login` writes a Secret of this type in the server's
// namespace, labelled with the server's name and owned by the UpstreamServer. The controller
// ingests it into its token store and deletes it.
const (
	// HandOverSecretType is the type of a login hand-over Secret.
	HandOverSecretType = "mcpproxy.dev/login"
	// HandOverServerLabel names the UpstreamServer a hand-over Secret is for.
	HandOverServerLabel = "mcpproxy.dev/upstream-server"
	// HandOverDataKey is the Secret data key holding the JSON hand-over payload.
	HandOverDataKey = "login.json"
	// HandOverCredentialLabel, on a hand-over that also names its server, says the login is for
	// that UpstreamCredential (credentialMode PerSubject), not for the server's shared token.
	HandOverCredentialLabel = "mcpproxy.dev/upstream-credential"
)

// NewHandOverSecret builds the hand-over Secret carrying payload (internal/handover JSON) for
// us. It is owned by us, so deleting the server deletes a pending hand-over.
func NewHandOverSecret(us *UpstreamServer, payload []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: us.Name + "-login-",
			Namespace:    us.Namespace,
			Labels:       map[string]string{HandOverServerLabel: us.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: GroupVersion.String(), Kind: "UpstreamServer", Name: us.Name, UID: us.UID,
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Type: HandOverSecretType,
		Data: map[string][]byte{HandOverDataKey: payload},
	}
}

// NewCredentialHandOverSecret builds the hand-over Secret carrying payload for credential c of
// the server c.Spec.ServerRef names. It carries both labels (the login-handover admission
// policy checks verb login on the server) and is owned by the credential.
func NewCredentialHandOverSecret(c *UpstreamCredential, payload []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: c.Name + "-login-",
			Namespace:    c.Namespace,
			Labels:       map[string]string{HandOverServerLabel: c.Spec.ServerRef.Name, HandOverCredentialLabel: c.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: GroupVersion.String(), Kind: "UpstreamCredential", Name: c.Name, UID: c.UID,
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Type: HandOverSecretType,
		Data: map[string][]byte{HandOverDataKey: payload},
	}
}
