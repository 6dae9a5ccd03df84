package controllers

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// A reconcile's wall time is split into phases that add up to it: the pass's steps by what they
// report (the token call and the save inside a refresh), the rest of the pass to plan.
func TestPassTimerSplitsAReconcileIntoPhases(t *testing.T) {
	ms := time.Millisecond
	refresh := lifecycle.Outcome{Step: lifecycle.Step{Kind: lifecycle.StepRefresh}, Duration: 10 * ms, Saved: 3 * ms, Took: 14 * ms}
	connect := lifecycle.Outcome{Step: lifecycle.Step{Kind: lifecycle.StepConnect}, Took: 20 * ms}
	ingest := lifecycle.Outcome{Step: lifecycle.Step{Kind: lifecycle.StepIngestHandOver}, Saved: 2 * ms, Took: 5 * ms}
	for name, tc := range map[string]struct {
		outcomes lifecycle.Outcomes
		passTook time.Duration
		want     map[string]time.Duration
	}{
		"a routine refresh": {lifecycle.Outcomes{refresh}, 16 * ms, map[string]time.Duration{
			phaseRead: 4 * ms, phaseTokenCall: 10 * ms, phaseSave: 3 * ms, phaseOtherSteps: 1 * ms, phasePlan: 2 * ms, phasePatch: 6 * ms}},
		"a login and a new session": {lifecycle.Outcomes{ingest, connect}, 26 * ms, map[string]time.Duration{
			phaseRead: 4 * ms, phaseSave: 2 * ms, phaseOtherSteps: 3 * ms, phaseSession: 20 * ms, phasePlan: 1 * ms, phasePatch: 6 * ms}},
		"nothing to do": {nil, 1 * ms, map[string]time.Duration{phaseRead: 4 * ms, phasePlan: 1 * ms, phasePatch: 6 * ms}},
	} {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
			pt := startPass(clk)
			clk.SetTime(clk.Now().Add(4 * ms))
			pt.mark(phaseRead)
			clk.SetTime(clk.Now().Add(tc.passTook))
			pt.markPass(lifecycle.Result{Outcomes: tc.outcomes})
			clk.SetTime(clk.Now().Add(6 * ms))
			pt.mark(phasePatch)
			var sum time.Duration
			for phase, d := range pt.took {
				sum += d
				if d != tc.want[phase] {
					t.Errorf("%s: %v, want %v", phase, d, tc.want[phase])
				}
			}
			if total := 10*ms + tc.passTook; sum != total {
				t.Errorf("the phases add up to %v, the reconcile took %v", sum, total)
			}
		})
	}
}
