package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestRecorderFollowsRefreshTokenChains: holders sharing one OAuth client (the credentials of a
// PerSubject server) are told apart by their tracked refresh tokens across rotations; a holder
// with a client of its own is filed under the client ID; failed refreshes are counted apart.
func TestRecorderFollowsRefreshTokenChains(t *testing.T) {
	var mu sync.Mutex
	issued := 0
	rotate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("refresh_token") == "bad" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		issued++
		rt := fmt.Sprintf("rt-%d", issued)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at","token_type":"Bearer","expires_in":60,"refresh_token":%q}`, rt)
	})
	rec := newRecorder()
	srv := httptest.NewServer(rec.wrap(rotate))
	defer srv.Close()
	refresh := func(client, rt string) string {
		t.Helper()
		resp, err := http.PostForm(srv.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {rt}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return body.RefreshToken
	}
	rec.track("alice-0", "alice")
	rec.track("bob-0", "bob")
	a := refresh("shared", "alice-0")
	refresh("shared", "bob-0")
	a = refresh("shared", a)
	refresh("shared", a)
	refresh("own-client", "untracked")
	refresh("shared", "bad")
	events, failed := rec.snapshot()
	got := map[string]int{}
	for h, evs := range events {
		got[h] = len(evs)
	}
	want := map[string]int{"alice": 3, "bob": 1, "own-client": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("refreshes by holder: got %v, want %v", got, want)
	}
	if failed != 1 {
		t.Errorf("failed refreshes: got %d, want 1", failed)
	}
}

// A burst is counted by holder: one that refreshed twice in the window (on its own schedule,
// then when asked) counts once, at its first refresh there, and one that did not is missing.
func TestHoldersBetweenCountsEachHolderOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	rc := newRecorder()
	rc.byHolder = map[string][]refreshEvent{
		"a": {{Arrived: at(1), Answered: at(2)}, {Arrived: at(5), Answered: at(6)}},
		"b": {{Arrived: at(-3), Answered: at(-2)}, {Arrived: at(3), Answered: at(4)}},
		"c": {{Arrived: at(-1), Answered: at(0)}},
	}
	for _, tc := range []struct {
		from, to    time.Time
		n           int
		first, last time.Time
	}{
		{at(0), at(10), 2, at(1), at(4)},
		{at(-5), at(10), 3, at(-3), at(2)},
		{at(4), at(10), 1, at(5), at(6)},
	} {
		n, first, last := rc.holdersBetween(tc.from, tc.to)
		if n != tc.n || !first.Equal(tc.first) || !last.Equal(tc.last) {
			t.Errorf("[%s, %s): %d holders, %s to %s; want %d, %s to %s", tc.from, tc.to, n, first, last, tc.n, tc.first, tc.last)
		}
	}
	if n, _, _ := rc.countBetween(at(0), at(10)); n != 3 {
		t.Errorf("countBetween counted %d refreshes, want 3", n)
	}
}
