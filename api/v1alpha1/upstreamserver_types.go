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

// Transport names the MCP transport used to reach a server.
// +kubebuilder:validation:Enum=streamable-http;sse
type Transport string

const (
	// TransportStreamableHTTP is the Streamable HTTP transport (MCP 2025-03-26 and later).
	TransportStreamableHTTP Transport = "streamable-http"
	// TransportSSE is the legacy HTTP+SSE transport (MCP 2024-11-05).
	TransportSSE Transport = "sse"
)

// UpstreamServerSpec declares a remote MCP server and how to authenticate to it.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.credentialMode) || oldSelf.credentialMode != 'PerSubject' || (has(self.credentialMode) && self.credentialMode == 'PerSubject')",message="credentialMode PerSubject cannot be changed: with Shared, whoever logs in next would act upstream for every person's agents; delete the UpstreamServer (its credentials are revoked) and create it again"
// +kubebuilder:validation:XValidation:rule="!self.url.startsWith('http://') || (has(self.allowInsecureHTTP) && self.allowInsecureHTTP) || url(self.url).getHostname() == 'localhost' || url(self.url).getHostname() == '::1' || self.url.matches('^http://127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}(:[0-9]{1,5})?([/?#]|$)')",message="url must use https; http is accepted only for a loopback host (localhost, 127.0.0.0/8, ::1) or with allowInsecureHTTP: true"
type UpstreamServerSpec struct {
	// url is the MCP endpoint, for example https://mcp.example.com/mcp.
	// It must use https, except for a loopback host or when allowInsecureHTTP is true.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || url(self).getScheme() == 'http') && url(self).getHostname() != ''",message="url must be an absolute http(s) URL such as https://mcp.example.com/mcp"
	URL string `json:"url"`

	// allowInsecureHTTP permits a plain-http url to a non-loopback host. Tokens then travel
	// unencrypted: use it only on a trusted network.
	// +optional
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`

	// transport is the MCP transport: streamable-http (default) or sse (legacy HTTP+SSE).
	// +optional
	// +kubebuilder:default=streamable-http
	Transport Transport `json:"transport,omitempty"`

	// headers are static HTTP headers sent with every request, for servers that use an API key
	// instead of OAuth. Each value is literal or read from a Secret key; such a Secret must name
	// this server in its mcpproxy.dev/allowed-servers annotation.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Headers []HeaderSpec `json:"headers,omitempty"`

	// oauth configures the OAuth client. When absent, OAuth is discovered from the server's
	// 401 answer (protected resource metadata, then authorization server metadata).
	// +optional
	OAuth *OAuthSpec `json:"oauth,omitempty"`

	// healthCheckInterval is how often the live MCP session is checked. Default 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="healthCheckInterval must be a positive duration such as 30s or 5m"
	HealthCheckInterval *metav1.Duration `json:"healthCheckInterval,omitempty"`

	// suspend stops refreshes and closes the MCP session while true. The stored token is kept.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// credentialMode says whose account a workload acts as upstream. Shared (the default): the
	// server holds one token, of whoever logged in last, and every workload allowed `use` acts
	// as that person. PerSubject: the server holds no user token; each workload uses the
	// UpstreamCredential that lists its Kubernetes identity, a login of its own person's.
	// PerSubject cannot be changed back: Shared would let whoever logs in next act for every
	// person's agents; delete the server (which revokes its credentials) and create it again.
	// +optional
	// +kubebuilder:default=Shared
	CredentialMode CredentialMode `json:"credentialMode,omitempty"`
}

// CredentialMode is Shared or PerSubject.
// +kubebuilder:validation:Enum=Shared;PerSubject
type CredentialMode string

// The credential modes.
const (
	// CredentialModeShared: one token for the server, used by every workload allowed `use`.
	CredentialModeShared CredentialMode = "Shared"
	// CredentialModePerSubject: one UpstreamCredential per person, chosen by the caller's identity.
	CredentialModePerSubject CredentialMode = "PerSubject"
)

// HeaderSpec is one static HTTP header.
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value or valueFrom"
type HeaderSpec struct {
	// name is the HTTP header name, for example X-API-Key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Name string `json:"name"`

	// value is the literal header value.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Value *string `json:"value,omitempty"`

	// valueFrom reads the header value from a key of a Secret in the server's namespace. The
	// Secret must opt in: its annotation mcpproxy.dev/allowed-servers lists this server's name
	// (comma-separated names, or "*" for every server in the namespace). Otherwise the server
	// reports ConfigInvalid and the value is never sent.
	// +optional
	ValueFrom *HeaderValueSource `json:"valueFrom,omitempty"`
}

// HeaderValueSource says where a header value comes from.
type HeaderValueSource struct {
	// secretKeyRef selects a key of a Secret in the server's namespace. The Secret must carry
	// the annotation mcpproxy.dev/allowed-servers naming this server (or "*").
	// +required
	SecretKeyRef SecretKeyReference `json:"secretKeyRef"`
}

// SecretKeyReference selects one key of a Secret in the same namespace as the UpstreamServer.
// The controller reads the Secret only when it opts in: its annotation
// mcpproxy.dev/allowed-servers is a comma-separated list of UpstreamServer names that may use
// it, or "*" for every server in the namespace. So the right to create an UpstreamServer is not
// the right to send any Secret of the namespace to any URL.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// OAuthSpec configures the OAuth 2.1 client used for a server. Every field is optional;
// what is absent is discovered as the MCP authorization specification describes.
type OAuthSpec struct {
	// clientID is a pre-registered OAuth client ID. When absent the controller uses a Client ID
	// Metadata Document (clientMetadataURL) or dynamic client registration.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ClientID string `json:"clientID,omitempty"`

	// clientSecretRef selects the client secret of a confidential pre-registered client, a key
	// of a Secret in the server's namespace. The Secret must opt in: its annotation
	// mcpproxy.dev/allowed-servers lists this server's name (comma-separated names, or "*" for
	// every server in the namespace). Otherwise the server reports ConfigInvalid and the secret
	// is never sent.
	// +optional
	ClientSecretRef *SecretKeyReference `json:"clientSecretRef,omitempty"`

	// clientMetadataURL is an https URL of a Client ID Metadata Document, used as the client ID
	// when the authorization server supports it.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getEscapedPath() != '' && url(self).getEscapedPath() != '/'",message="clientMetadataURL must be an https URL with a path"
	ClientMetadataURL string `json:"clientMetadataURL,omitempty"`

	// scopes to request. When absent: the scope of the server's 401 challenge, else every scope
	// the authorization server advertises, else none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Scopes []string `json:"scopes,omitempty"`

	// resource overrides the RFC 8707 resource indicator (default: the canonical server URL).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="resource must be an absolute URI"
	Resource string `json:"resource,omitempty"`

	// authorizationServer overrides the issuer and skips protected resource metadata discovery.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || url(self).getHostname() == 'localhost' || url(self).getHostname() == '::1' || self.matches('^http://127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}(:[0-9]{1,5})?([/?#]|$)'))",message="authorizationServer must be an https URL (http only for a loopback host)"
	AuthorizationServer string `json:"authorizationServer,omitempty"`

	// extraParams are added to the authorization request, for providers that need them
	// (for example audience or prompt). Parameters the OAuth flow sets itself are rejected.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['response_type','client_id','client_secret','redirect_uri','scope','state','code','code_challenge','code_challenge_method','code_verifier','resource','grant_type','refresh_token','iss']))",message="extraParams must not set parameters the OAuth flow sets itself (response_type, client_id, client_secret, redirect_uri, scope, state, code, code_challenge, code_challenge_method, code_verifier, resource, grant_type, refresh_token, iss)"
	ExtraParams map[string]string `json:"extraParams,omitempty"`

	// refreshBefore is how long before expiry the access token is refreshed.
	// Default: a quarter of the token lifetime, at most 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="refreshBefore must be a non-negative duration such as 2m"
	RefreshBefore *metav1.Duration `json:"refreshBefore,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=us,categories=mcp
// The columns of `kubectl get upstreamservers` name the same facts with the same words as
// `mcpproxy auth status` (internal/cli/status.go): READY and REASON are the Ready condition,
// LOGIN is the command a person must run (set only while AuthorizationRequired is True, so a
// blank cell means nobody needs to log in), EXPIRES is when the access token expires (a
// string: kubectl shows dates only as ages, and an expiry lies ahead), TOOLS what the server
// lists; -o wide adds whose account the token acts as, the last refresh, the failed
// refreshes in a row and the URL.
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="True when workloads can use the server (the Ready condition)"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="Why the server is or is not Ready (the Ready condition's reason)"
// +kubebuilder:printcolumn:name="Login",type=string,JSONPath=`.status.authorization.loginCommand`,description="The command a person must run; set only while AuthorizationRequired is True"
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.token.expiresAt`,description="When the access token expires (UTC)"
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.server.tools`,description="How many tools the MCP server lists"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.token.obtainedBy`,priority=1,description="The Kubernetes user who logged in: whose upstream account workloads act as"
// +kubebuilder:printcolumn:name="Last Refresh",type=date,JSONPath=`.status.token.lastRefreshTime`,priority=1,description="How long ago the token was last refreshed"
// +kubebuilder:printcolumn:name="Failures",type=integer,JSONPath=`.status.refresh.failedAttempts`,priority=1,description="Failed refreshes in a row (blank: none)"
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`,priority=1

// UpstreamServer is a remote MCP server whose OAuth token and live connection the controller
// keeps alive.
type UpstreamServer struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the server.
	// +required
	Spec UpstreamServerSpec `json:"spec"`

	// status is what the controller observed. It never holds a token, code or secret.
	// +optional
	Status UpstreamServerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// UpstreamServerList is a list of UpstreamServers.
type UpstreamServerList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpstreamServer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&UpstreamServer{}, &UpstreamServerList{})
}
