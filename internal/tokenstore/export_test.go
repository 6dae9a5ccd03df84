package tokenstore

// WaitersOf is how many WaitNewer calls are registered on s, for the contract tests
// (package tokenstore_test).
func WaitersOf(s *Store) int64 { return s.announced.waiting.Load() }
