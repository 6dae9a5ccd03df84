package lifecycle

// Condition reasons the lifecycle sets. They are the same CamelCase strings as the API's
// (api/v1alpha1); the controller's tests check that they agree, so this package need not
// import Kubernetes.
const (
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
	ReasonPerSubject             = "PerSubject"
)
