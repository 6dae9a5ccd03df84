package lifecycle

// authorizationRequired replays the outcomes over the remembered AuthorizationRequired
// condition and instructions, oldest first: asking a person sets it, a token that works (or a
// server that needs none) clears it. The result holds only those two fields.
func authorizationRequired(f *Facts, o Outcomes) Status {
	if f.Config.PerSubject {
		return perSubjectAuthorization(f, o)
	}
	s := Status{AuthorizationRequired: f.Prev.AuthorizationRequired, Authorization: f.Prev.Authorization}
	for i, x := range o {
		upTo := o[:i+1]
		switch x.Step.Kind {
		case StepIngestHandOver:
			if x.Err == nil {
				s.clear(ReasonLoginCompleted, "A login was completed")
				continue
			}
			fallthrough
		case StepRejectHandOver:
			if current(f, upTo) == nil {
				s.require(f, upTo, ReasonHandOverRejected, handOverMessage(f, x))
			}
		case StepLogout:
			if x.Err == nil {
				s.require(f, upTo, ReasonLoggedOut, logoutMessage)
			}
		case StepRequestLogin:
			s.require(f, upTo, x.Step.Reason, loginMessage(f, upTo[:i], x.Step))
		case StepRefresh:
			if x.Err == nil && x.StoreErr == nil && !x.Conflict {
				s.clear(ReasonTokenValid, "The controller holds a valid token")
			} else if x.Err != nil && !x.Permanent && f.usable(current(f, upTo)) {
				s.clearUnlessRejected()
			}
		case StepConnect:
			if x.Step.NoToken {
				s.clear(ReasonAuthorizationNotNeeded, noAuthMessage)
			} else if !x.Unauthorized {
				s.clearUnlessRejected()
			}
		}
	}
	return s
}

// perSubjectAuthorization: a PerSubject server never asks a person to log in for it (each
// credential asks for its own), whatever its hand-overs or its discovery did; the condition
// says so, or that the server needs no token at all.
func perSubjectAuthorization(f *Facts, o Outcomes) Status {
	notNeeded := f.Prev.AuthorizationRequired != nil && f.Prev.AuthorizationRequired.Reason == ReasonAuthorizationNotNeeded
	for _, x := range o {
		switch {
		case x.Step.Kind == StepConnect && x.Step.NoToken:
			notNeeded = true
		case x.Step.Kind == StepDiscover && x.Err == nil && x.Discovery != nil && !x.Discovery.NoAuthRequired:
			notNeeded = false
		}
	}
	var s Status
	if notNeeded {
		s.clear(ReasonAuthorizationNotNeeded, noAuthMessage)
	} else {
		s.clear(ReasonPerSubject, perSubjectLoginMessage)
	}
	return s
}

// authorizationRequiredCondition is the condition and the instructions for a person (nil when none).
func authorizationRequiredCondition(f *Facts, o Outcomes) (*Condition, *Authorization) {
	s := authorizationRequired(f, o)
	return s.AuthorizationRequired, s.Authorization
}

func (s *Status) clear(reason, msg string) {
	s.AuthorizationRequired = &Condition{False, reason, msg}
	s.Authorization = nil
}

// clearUnlessRejected withdraws a request for a person because a token works, except a
// rejected refresh token: that one still needs a login before the token expires.
func (s *Status) clearUnlessRejected() {
	if !s.refreshBlocked() {
		s.clear(ReasonTokenValid, "The controller holds a valid token")
	}
}

// require asks a person to log in: the exact command, and what the login will ask for.
func (s *Status) require(f *Facts, upTo Outcomes, reason, msg string) {
	s.AuthorizationRequired = &Condition{True, reason, msg + ". Run: " + f.Config.LoginCommand}
	a := Authorization{Since: f.Now}
	if s.Authorization != nil {
		a = *s.Authorization
	}
	a.LoginCommand = f.Config.LoginCommand
	d := upTo.last(StepDiscover)
	rec := current(f, upTo)
	switch {
	case d != nil && d.Discovery != nil:
		a.AuthorizationServer, a.Resource, a.Scopes = d.Discovery.Issuer, d.Discovery.Resource, d.Discovery.Scopes
	case rec != nil:
		a.AuthorizationServer, a.Resource, a.Scopes = rec.Issuer, rec.Resource, rec.Scopes
	case f.Config.OAuth.AuthorizationServer != "" || f.Config.OAuth.Resource != "" || len(f.Config.OAuth.Scopes) > 0:
		a.AuthorizationServer, a.Resource, a.Scopes = f.Config.OAuth.AuthorizationServer, f.Config.OAuth.Resource, f.Config.OAuth.Scopes
	}
	s.Authorization = &a
}
