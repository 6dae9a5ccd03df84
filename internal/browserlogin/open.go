package browserlogin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// ErrNoBrowser is returned by OpenURL when neither $BROWSER nor a system opener is available.
var ErrNoBrowser = errors.New("browserlogin: no browser: set $BROWSER or install xdg-open")

// OpenURL sends the user's browser to url: $BROWSER when set (a colon-separated list of
// commands, the first one is used; "%s" in it is replaced by the URL, else the URL is appended),
// else open on macOS and xdg-open elsewhere. It does not wait for the browser to exit.
func OpenURL(url string) error {
	argv, err := browserCommand(os.Getenv("BROWSER"), runtime.GOOS, url)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		// exec errors name the command and its arguments, which hold the URL's state.
		return fmt.Errorf("browserlogin: starting %s: %s", argv[0], oauth.Redact(err.Error()))
	}
	go func() { _ = cmd.Wait() }() // reap it; a browser may run for hours
	return nil
}

// browserCommand builds the command line that opens url.
func browserCommand(env, goos, url string) ([]string, error) {
	for _, entry := range strings.Split(env, ":") {
		fields := strings.Fields(entry)
		if len(fields) == 0 {
			continue
		}
		replaced := false
		for i, f := range fields {
			if strings.Contains(f, "%s") {
				fields[i] = strings.ReplaceAll(f, "%s", url)
				replaced = true
			}
		}
		if !replaced {
			fields = append(fields, url)
		}
		return fields, nil
	}
	opener := "xdg-open"
	if goos == "darwin" {
		opener = "open"
	}
	if _, err := exec.LookPath(opener); err != nil {
		return nil, ErrNoBrowser
	}
	return []string{opener, url}, nil
}
