// Package lifecycle is one token's life, in four stages, whatever object it is attached to
// (an UpstreamServer's shared token, or an UpstreamCredential's):
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
// Two switches of Config adapt it to its owner, each decided in Plan (plan_modes.go):
//
//   - OneShot (a credential): no live session. A token is proven by one authenticated MCP
//     request (initialize and tools/list, then closed: OneShotSessions) when it is handed over
//     or refreshed; Facts.Verified says the stored one was, so nothing is sent until the next.
//   - PerSubject (a server whose credentials hold the tokens): the server holds none. A shared
//     token is revoked, nobody is asked to log in, and only discovery runs.
//
// It knows tokens, sessions and OAuth, not Kubernetes: the controller translates its Facts in
// and its Status out.
package lifecycle
