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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubjectKind is the kind of a Kubernetes identity a credential is bound to, as in RBAC subjects.
// +kubebuilder:validation:Enum=ServiceAccount;User;Group
type SubjectKind string

// The subject kinds.
const (
	SubjectServiceAccount SubjectKind = "ServiceAccount"
	SubjectUser           SubjectKind = "User"
	SubjectGroup          SubjectKind = "Group"
)

// CredentialSubject is a Kubernetes identity that may use a credential through the gateway:
// the identity a TokenReview reports for the caller's bearer token.
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.namespace) && size(self.namespace) > 0 : !has(self.namespace)",message="namespace is required for a ServiceAccount and not allowed for a User or Group"
type CredentialSubject struct {
	// kind is ServiceAccount, User or Group.
	// +required
	Kind SubjectKind `json:"kind"`
	// name of the ServiceAccount, user or group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// namespace of the ServiceAccount (ServiceAccounts only).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// ServerReference names an UpstreamServer in the credential's namespace.
type ServerReference struct {
	// name of the UpstreamServer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// UpstreamCredentialSpec is one person's delegated login to one UpstreamServer, and the
// Kubernetes identities that may act upstream as that person.
type UpstreamCredentialSpec struct {
	// serverRef names the UpstreamServer (in this namespace) the login is for. It cannot change:
	// a login belongs to one server.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="serverRef is immutable; create another credential"
	ServerRef ServerReference `json:"serverRef"`

	// subjects are the identities whose gateway calls use this credential's token. Binding
	// another identity than one's own needs the right to act as it (see the
	// upstream-credential-binding admission policy).
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Subjects []CredentialSubject `json:"subjects"`

	// scopes to request at login, when they differ from the server's (a subset, or a step-up).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Scopes []string `json:"scopes,omitempty"`

	// suspend stops refreshing (the token is kept).
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// UpstreamCredentialStatus mirrors the token part of an UpstreamServer's status. It never holds
// a token, code or secret.
type UpstreamCredentialStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Authenticated, AuthorizationRequired and LoginAccepted.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// token describes the stored token without revealing it; obtainedBy is whose upstream
	// account the subjects act as.
	// +optional
	Token *TokenStatus `json:"token,omitempty"`

	// owner is the Kubernetes user whose login the credential was first given. It never changes,
	// not even after a logout: only the owner (or someone allowed to impersonate them) may log in
	// for the credential again or add subjects to it, so nobody can slip their own upstream
	// account under the owner's agents, or themselves under the owner's login.
	// +optional
	Owner string `json:"owner,omitempty"`

	// refresh records refresh failures and the next planned refresh.
	// +optional
	Refresh *RefreshStatus `json:"refresh,omitempty"`

	// authorization says what a person must do when AuthorizationRequired is True.
	// +optional
	Authorization *AuthorizationStatus `json:"authorization,omitempty"`

	// lastCorrelationID identifies the last refresh or login flow in logs and events.
	// +optional
	LastCorrelationID string `json:"lastCorrelationID,omitempty"`

	// lastHandledRefreshRequest is the mcpproxy.dev/refresh-requested-at value last acted on.
	// +optional
	LastHandledRefreshRequest string `json:"lastHandledRefreshRequest,omitempty"`

	// lastHandledLogoutRequest is the mcpproxy.dev/logout-requested-at value last acted on.
	// +optional
	LastHandledLogoutRequest string `json:"lastHandledLogoutRequest,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ucred,categories=mcp
// The columns use the words of UpstreamServer's and of `mcpproxy auth status`.
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.serverRef.name`,description="The UpstreamServer the login is for"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="True when the subjects can use the server with this login"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.token.obtainedBy`,description="The Kubernetes user who logged in: whose upstream account the subjects act as"
// +kubebuilder:printcolumn:name="Subjects",type=string,JSONPath=`.spec.subjects[*].name`,description="Who may use it"
// +kubebuilder:printcolumn:name="Login",type=string,JSONPath=`.status.authorization.loginCommand`,description="The command a person must run; set only while AuthorizationRequired is True"
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.token.expiresAt`,description="When the access token expires (UTC)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// UpstreamCredential is a person's delegated login to one UpstreamServer whose credentialMode
// is PerSubject, usable through the gateway by the Kubernetes subjects it lists. Deleting it
// revokes its token at the authorization server.
type UpstreamCredential struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec binds a login to subjects.
	// +required
	Spec UpstreamCredentialSpec `json:"spec"`

	// status is what the controller observed. It never holds a token, code or secret.
	// +optional
	Status UpstreamCredentialStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// UpstreamCredentialList is a list of UpstreamCredentials.
type UpstreamCredentialList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpstreamCredential `json:"items"`
}

func init() {
	SchemeBuilder.Register(&UpstreamCredential{}, &UpstreamCredentialList{})
}
