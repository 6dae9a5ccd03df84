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

// UpstreamServerStatus is what the controller observed about a server's token and connection.
// It never holds an access token, refresh token, authorization code or client secret.
type UpstreamServerStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Authenticated, Connected and AuthorizationRequired.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// token describes the stored token without revealing it.
	// +optional
	Token *TokenStatus `json:"token,omitempty"`

	// refresh records refresh failures and the next planned refresh; it survives restarts so
	// backoff does too.
	// +optional
	Refresh *RefreshStatus `json:"refresh,omitempty"`

	// authorization says what a person must do when AuthorizationRequired is True.
	// +optional
	Authorization *AuthorizationStatus `json:"authorization,omitempty"`

	// server describes the MCP server as seen by the last successful initialize.
	// +optional
	Server *ServerInfo `json:"server,omitempty"`

	// lastCorrelationID identifies the last refresh or login flow in logs and events.
	// +optional
	LastCorrelationID string `json:"lastCorrelationID,omitempty"`

	// lastHandledRefreshRequest is the value of the mcpproxy.dev/refresh-requested-at annotation
	// that was last acted on.
	// +optional
	LastHandledRefreshRequest string `json:"lastHandledRefreshRequest,omitempty"`

	// lastHandledLogoutRequest is the value of the mcpproxy.dev/logout-requested-at annotation
	// that was last acted on.
	// +optional
	LastHandledLogoutRequest string `json:"lastHandledLogoutRequest,omitempty"`

	// credentials counts the server's UpstreamCredentials (credentialMode PerSubject only).
	// +optional
	Credentials *CredentialCounts `json:"credentials,omitempty"`
}

// CredentialCounts counts a PerSubject server's credentials by state.
type CredentialCounts struct {
	// total is how many UpstreamCredentials name the server.
	Total int32 `json:"total"`
	// ready is how many are Ready.
	Ready int32 `json:"ready"`
	// authorizationRequired is how many wait for a person to log in.
	AuthorizationRequired int32 `json:"authorizationRequired"`
	// failing is how many have failed refreshes in a row.
	Failing int32 `json:"failing"`
}

// TokenStatus describes a stored token. It never holds the token itself.
type TokenStatus struct {
	// expiresAt is when the access token expires; absent when the server did not say.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// lastRefreshTime is when the token was last refreshed.
	// +optional
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`
	// hasRefreshToken is true when a refresh token is stored.
	// +optional
	HasRefreshToken bool `json:"hasRefreshToken,omitempty"`
	// scopes granted to the token.
	// +optional
	// +listType=atomic
	Scopes []string `json:"scopes,omitempty"`
	// issuer of the token.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// obtainedBy is the Kubernetes user who logged in: whose upstream account every workload
	// acts as. Verified by the login-handover admission policy where it is installed.
	// +optional
	ObtainedBy string `json:"obtainedBy,omitempty"`
}

// RefreshStatus is the failure memory of refreshes.
type RefreshStatus struct {
	// failedAttempts counts consecutive failed refreshes; reset by a success.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// lastFailureTime is when the last refresh failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
	// lastFailureReason is a short, secret-free description of the last failure.
	// +optional
	LastFailureReason string `json:"lastFailureReason,omitempty"`
	// nextRefreshTime is when the next refresh is planned.
	// +optional
	NextRefreshTime *metav1.Time `json:"nextRefreshTime,omitempty"`
}

// AuthorizationStatus tells a person how to authorize the controller.
type AuthorizationStatus struct {
	// since is when authorization became required.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// loginCommand is the exact command that satisfies the requirement.
	// +optional
	LoginCommand string `json:"loginCommand,omitempty"`
	// authorizationServer is the discovered issuer.
	// +optional
	AuthorizationServer string `json:"authorizationServer,omitempty"`
	// resource is the RFC 8707 resource the token will be bound to.
	// +optional
	Resource string `json:"resource,omitempty"`
	// scopes that the login will request.
	// +optional
	// +listType=atomic
	Scopes []string `json:"scopes,omitempty"`
}

// ServerInfo describes an MCP server from its initialize answer.
type ServerInfo struct {
	// name the server reported.
	// +optional
	Name string `json:"name,omitempty"`
	// version the server reported.
	// +optional
	Version string `json:"version,omitempty"`
	// protocolVersion negotiated with the server.
	// +optional
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	// tools is the number of tools the server lists.
	// +optional
	Tools int32 `json:"tools,omitempty"`
}
