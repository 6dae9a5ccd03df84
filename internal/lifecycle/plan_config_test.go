package lifecycle

import (
	"errors"
	"slices"
	"testing"
)

// A config that turns invalid (a Secret withdrew its consent, say) closes the session the old
// config opened, which may carry the withdrawn header; with no session, nothing is done.
func TestInvalidConfigClosesTheOldSession(t *testing.T) {
	bad := errors.New(`header X-Api-Key: Secret ns/key does not allow UpstreamServer "s" to use it`)
	for name, tc := range map[string]struct {
		session bool
		steps   []StepKind
	}{
		"a session is open: closed": {true, []StepKind{StepCloseSession}},
		"no session: nothing to do": {false, nil},
	} {
		t.Run(name, func(t *testing.T) {
			f := &Facts{Now: now, ConfigErr: bad, Session: SessionFacts{Present: tc.session, Healthy: true}}
			o := simulate(f, nil)
			var got []StepKind
			for _, x := range o {
				got = append(got, x.Step.Kind)
			}
			if !slices.Equal(got, tc.steps) {
				t.Fatalf("steps %v, want %v", got, tc.steps)
			}
			if c := statusOf(f, o).Connected; reasonOf(c) != (cond{False, ReasonConfigInvalid}) {
				t.Errorf("Connected = %+v, want False/ConfigInvalid", c)
			}
		})
	}
}
