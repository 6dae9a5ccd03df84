package oauth

// offlineAccess is the scope that asks for a refresh token on servers that advertise it.
const offlineAccess = "offline_access"

// chooseScopes applies the MCP scope selection strategy: configured scopes; else the
// 401 challenge's scope; else every scope in the protected resource metadata's
// scopes_supported; else none. offline_access is added only when the authorization
// server advertises it, since this client exists to keep refresh tokens.
func chooseScopes(configured, challenge, resourceSupported, serverSupported []string) []string {
	var chosen []string
	switch {
	case len(configured) > 0:
		chosen = configured
	case len(challenge) > 0:
		chosen = challenge
	case len(resourceSupported) > 0:
		chosen = resourceSupported
	}
	out := unionScopes(chosen)
	if contains(serverSupported, offlineAccess) && !contains(out, offlineAccess) {
		out = append(out, offlineAccess)
	}
	return out
}

// unionScopes returns the scopes of all lists, in first-seen order, without duplicates
// or empty entries.
func unionScopes(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
