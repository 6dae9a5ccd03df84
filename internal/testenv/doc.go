// Package testenv is the one test environment of every suite (controllers, gateway,
// internal/cli, cmd/manager, test/e2e): the control plane with the CRDs (Main), managers
// wired by internal/app exactly as the binary wires them (StartManager, RunManager), the test
// OAuth server and a headless login (StartOAuthServer, Login), and the one polling helper
// (Eventually).
//
// Decisions:
//   - A missing KUBEBUILDER_ASSETS fails the test binary rather than skipping it: `make test`
//     always sets it, and a green run that skipped the integration tests would hide a broken
//     set-up.
//   - One control plane per test binary (package), as before: starting kube-apiserver is the
//     expensive part. Suites that need isolation start a manager per test, restricted to a
//     namespace of its own; suites that drive one long-lived manager share it (RunManager).
//   - A test that asserts that nothing happened waits for a positive signal first:
//     Manager.WaitReconciled returns once the reconciler has looked at the server again.
//   - The parts that non-test binaries need live in subpackages that do not import testing:
//     controlplane (hack/dev, hack/devcluster, test/bench) and proc, the one child-process
//     runner (hack/dev, test/e2e, test/bench).
//
// Import direction: testenv imports internal/app, so controllers' and gateway's suites that
// use it are external test packages (controllers_test, gateway_test).
package testenv
