package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
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
