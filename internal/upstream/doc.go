// Package upstream says what a stored token and an UpstreamServer's status mean, in one place
// for the controller, the gateway and the CLI: which store record and which session belong to a
// server, whether a token is usable, whether refreshes are backing off, how spec.headers resolve,
// and how anyone but the reconciler asks for a refresh.
//
// It translates between Kubernetes objects and token facts; it performs no refresh itself.
package upstream
