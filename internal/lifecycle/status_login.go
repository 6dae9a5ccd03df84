package lifecycle

import "fmt"

// loginAcceptedCondition says what became of the last login hand-over a pass looked at: True
// when it was stored, False with the reason when it was rejected. It is nil when the pass saw no
// hand-over, so the condition keeps telling about the last one. A rejection needs saying even
// while a valid token is held (AuthorizationRequired stays False then): whoever ran the login, or
// planted it, must see that it did not take.
func loginAcceptedCondition(f *Facts, o Outcomes) *Condition {
	var c *Condition
	for _, x := range o {
		switch x.Step.Kind {
		case StepIngestHandOver:
			if x.Err == nil {
				c = &Condition{True, ReasonLoginCompleted, loginStoredMessage(f, x)}
				continue
			}
			fallthrough
		case StepRejectHandOver:
			c = &Condition{False, ReasonHandOverRejected, handOverMessage(f, x)}
		}
	}
	return c
}

func loginStoredMessage(f *Facts, x Outcome) string {
	msg := fmt.Sprintf("Login hand-over %s was stored", f.HandOvers[x.Step.HandOver].Name)
	if x.Record != nil && x.Record.ObtainedBy != "" {
		msg += "; the server acts as " + x.Record.ObtainedBy
	}
	return msg
}
