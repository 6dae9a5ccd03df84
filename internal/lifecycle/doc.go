// Package lifecycle is one token's life, in four stages, whatever object it is attached to
// (an UpstreamServer today; a per-subject credential next):
//
//   - observe: the caller gathers Facts (config, stored and unsaved token, validated hand-overs,
//     pending requests, session state, what status remembered) and writes nothing;
//   - plan: Plan, a pure function, turns Facts and the outcomes so far into the ordered Steps
//     still to take, each with its reason. Every decision lives there;
//   - act: Run performs the first step, records its Outcome, and asks Plan again, until nothing
//     is left. It sets no condition;
//   - status: one pure function per condition (Authenticated, Connected,
//     AuthorizationRequired) and for the status fields, fed by the Facts and the Outcomes.
//
// It knows tokens, sessions and OAuth, not Kubernetes: the controller translates its Facts in
// and its Status out.
package lifecycle
