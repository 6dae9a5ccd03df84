package lifecycle

// The two modes a token's owner may ask for (Config.PerSubject, Config.OneShot). Every decision
// they change is here, still pure.

// perSubject plans for a server whose credentialMode is PerSubject: it holds no user token of
// its own, so a shared token left from Shared mode is revoked, and otherwise only discovery is
// left to do, once per generation (its outcome stays in status until the spec changes).
func perSubject(f *Facts, o Outcomes) []Step {
	if current(f, o) != nil {
		// A token of whoever logged in last would let every caller act as that person: the
		// confused deputy PerSubject exists to end.
		return []Step{{Kind: StepLogout, Reason: "the server's credentialMode is PerSubject: the shared token it held is revoked"}}
	}
	if f.PrevCurrent && f.Prev.Authenticated != nil && f.Prev.Authenticated.Reason == ReasonPerSubject {
		return nil // discovered for this generation already
	}
	return withoutToken(f, o)
}

// afterLogout ends the pass, except for a PerSubject server: its shared token is gone, and
// discovery is what it does instead of asking for a login.
func afterLogout(f *Facts, x Outcome) []Step {
	if f.Config.PerSubject && x.Err == nil {
		return []Step{{Kind: StepDiscover, Reason: "the server's credentialMode is PerSubject"}}
	}
	return nil
}

// useToken is the step that uses the token held: a connect, which opens, keeps or checks the
// live session. With OneShot there is no session to keep: a token is checked with one request
// when it is new to the pass or was never accepted, and otherwise nothing is sent.
func useToken(f *Facts, o Outcomes, why string) []Step {
	if f.Config.OneShot && f.Verified && current(f, o) == f.Record {
		return nil
	}
	return []Step{{Kind: StepConnect, Reason: why}}
}
