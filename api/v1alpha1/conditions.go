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

// Condition types of an UpstreamServer.
const (
	// ConditionReady is True when the server is usable: authenticated (or needing no auth) and connected.
	ConditionReady = "Ready"
	// ConditionAuthenticated is True when a usable access token is held.
	ConditionAuthenticated = "Authenticated"
	// ConditionConnected is True when a live MCP session is open.
	ConditionConnected = "Connected"
	// ConditionAuthorizationRequired is True when only a person can help: run status.authorization.loginCommand.
	ConditionAuthorizationRequired = "AuthorizationRequired"
	// ConditionLoginAccepted tells what became of the last login hand-over: True (LoginCompleted)
	// when it was stored, False (HandOverRejected) with the reason when it was not. It is absent
	// until a first hand-over, and says so even while another valid token is held.
	ConditionLoginAccepted = "LoginAccepted"
)

// Condition reasons. Each is CamelCase, as Kubernetes requires.
const (
	ReasonReady                  = "Ready"
	ReasonTokenValid             = "TokenValid"
	ReasonNoAuthRequired         = "NoAuthRequired"
	ReasonNoToken                = "NoToken"
	ReasonTokenExpired           = "TokenExpired"
	ReasonRefreshFailing         = "RefreshFailing"
	ReasonRefreshThrottled       = "RefreshThrottled"
	ReasonRefreshTokenRejected   = "RefreshTokenRejected"
	ReasonLoggedOut              = "LoggedOut"
	ReasonLoginCompleted         = "LoginCompleted"
	ReasonHandOverRejected       = "HandOverRejected"
	ReasonInsufficientScope      = "InsufficientScope"
	ReasonTokenStoreError        = "TokenStoreError"
	ReasonDiscoveryFailed        = "DiscoveryFailed"
	ReasonEgressDenied           = "EgressDenied"
	ReasonLimitExceeded          = "LimitExceeded"
	ReasonConfigInvalid          = "ConfigInvalid"
	ReasonConnected              = "Connected"
	ReasonConnectFailed          = "ConnectFailed"
	ReasonDisconnected           = "Disconnected"
	ReasonSuspended              = "Suspended"
	ReasonAuthorizationNotNeeded = "AuthorizationNotNeeded"
	ReasonReconciling            = "Reconciling"
	// ReasonPerSubject: a PerSubject server holds no token and asks nobody to log in for it.
	ReasonPerSubject = "PerSubject"
	// ReasonAuthorizationServerDiscovered: a PerSubject server is Ready, its authorization
	// server discovered; callers use their own UpstreamCredential.
	ReasonAuthorizationServerDiscovered = "AuthorizationServerDiscovered"
	// ReasonVerified: a credential is Ready, the MCP server having accepted its current token.
	ReasonVerified = "Verified"
	// ReasonServerNotFound: a credential's spec.serverRef names no UpstreamServer.
	ReasonServerNotFound = "ServerNotFound"
	// ReasonNotPerSubject: a credential's server has credentialMode Shared.
	ReasonNotPerSubject = "NotPerSubject"
)

// Annotations that ask the controller to act once. Their values are timestamps (RFC 3339);
// a new value is a new request.
const (
	// AnnotationRefreshRequestedAt asks for a refresh now, bypassing backoff.
	AnnotationRefreshRequestedAt = "mcpproxy.dev/refresh-requested-at"
	// AnnotationLogoutRequestedAt asks to revoke and forget the stored token.
	AnnotationLogoutRequestedAt = "mcpproxy.dev/logout-requested-at"
)

// AnnotationRejectedRevision is how a gateway replica that is not the leader reports that an
// upstream rejected the stored token of this revision (a decimal number). The leader treats it
// as its own gateway's report: a refresh of exactly that revision, within the refresh floor and
// backoff and never with a rejected refresh token, unlike a person's refresh-requested-at. A
// value for an older revision is stale and changes nothing.
const AnnotationRejectedRevision = "mcpproxy.dev/rejected-revision"

// AnnotationCreatedBy on a login hand-over Secret names the user who created it (their
// Kubernetes username). The login-handover ValidatingAdmissionPolicy admits a hand-over only when
// it equals the requesting user, so where the policy is installed the controller may trust it.
// On an UpstreamCredential it is written by the API server itself (the
// upstream-credential-creator MutatingAdmissionPolicy) and cannot change: before anyone has
// logged in, the credential belongs to that user.
const AnnotationCreatedBy = "mcpproxy.dev/created-by"

// AnnotationAllowedServers on a Secret lets UpstreamServers use it: the controller and the
// gateway read a Secret that a spec refers to (spec.headers[].valueFrom.secretKeyRef,
// spec.oauth.clientSecretRef) only when this annotation names the server. Its value is a
// comma-separated list of UpstreamServer names in the Secret's namespace (whitespace around a
// name is ignored), or AllowedServersAll. Without it, anyone who may create an UpstreamServer
// could have the manager send any Secret of the namespace to a URL of their choosing; with it,
// whoever may annotate the Secret decides where its value goes.
const AnnotationAllowedServers = "mcpproxy.dev/allowed-servers"

// AllowedServersAll as an entry of AnnotationAllowedServers allows every UpstreamServer in the
// Secret's namespace.
const AllowedServersAll = "*"

// Finalizer is set on every UpstreamServer so deletion closes the session and revokes the token.
const Finalizer = "mcp.mcpproxy.dev/token-cleanup"
