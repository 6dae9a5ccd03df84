// Command dev-follow plays the browser for `mcpproxy auth login` on a machine without one:
//
//	BROWSER=bin/dev-follow bin/mcpproxy auth login demo
//
// It GETs the authorization URL (its last argument) and follows the redirects to the CLI's
// loopback callback. If the demo server shows its consent page (no -auto-approve), it presses
// Approve. It exits non-zero when the flow does not end in a 2xx answer.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"time"
)

// consentID finds the hidden field of test/oauthserver's consent form.
var consentID = regexp.MustCompile(`name="consent_id" value="([^"]+)"`)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dev-follow AUTHORIZATION_URL")
		os.Exit(2)
	}
	if err := follow(os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintln(os.Stderr, "dev-follow:", err)
		os.Exit(1)
	}
}

func follow(authURL string) error {
	if u, err := url.Parse(authURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("not an http(s) URL: %q", authURL)
	}
	hc := &http.Client{Timeout: 30 * time.Second} // follows up to 10 redirects
	resp, err := hc.Get(authURL)
	if err != nil {
		return err
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if m := consentID.FindSubmatch(page); resp.StatusCode == http.StatusOK && m != nil {
		resp, err = hc.PostForm(resp.Request.URL.String(), url.Values{"consent_id": {string(m[1])}, "decision": {"approve"}})
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("the login ended with HTTP " + resp.Status + " at " + resp.Request.URL.Redacted())
	}
	fmt.Fprintln(os.Stderr, "dev-follow: the login reached", resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+resp.Request.URL.Path)
	return nil
}
