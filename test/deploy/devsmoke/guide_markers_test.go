package devsmoke

import (
	"os"
	"testing"
	"time"
)

// The guide parses, and every shell or text block in it carries a marker; this runs in -short
// too, so a badly marked block fails fast.
func TestGettingStartedGuideIsMarked(t *testing.T) {
	doc, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseGuide(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	shown := 0
	for _, s := range steps {
		if s.output != nil {
			shown++
		}
	}
	if len(steps) < 10 || shown < 10 {
		t.Errorf("the guide has %d steps, %d with an output: the markers are probably broken", len(steps), shown)
	}
}

func TestGuideMarkers(t *testing.T) {
	doc := "# T\n\n```sh guide start\nmake dev\n```\n\nprose\n\n```text guide-output\nbanner\n```\n\n" +
		"```sh guide exit=1 eventually=30s\nfalse\n```\n\n```sh guide-skip\nkubectl get us -w\n```\n\n" +
		"```text guide-skip\nanything\n```\n\n```yaml\nkind: X\n```\n"
	steps, err := parseGuide(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || !steps[0].start || steps[0].output == nil || *steps[0].output != "banner\n" ||
		steps[1].exit != 1 || steps[1].eventually != 30*time.Second || steps[1].output != nil || steps[1].commands != "false\n" {
		t.Errorf("parsed %+v", steps)
	}
	for name, bad := range map[string]string{
		"unmarked sh":        "```sh\nls\n```\n",
		"unmarked text":      "```sh guide\nls\n```\n```text\nx\n```\n",
		"output first":       "```text guide-output\nx\n```\n",
		"two outputs":        "```sh guide\nls\n```\n```text guide-output\nx\n```\n```text guide-output\ny\n```\n",
		"unknown option":     "```sh guide retries=3\nls\n```\n",
		"bad exit":           "```sh guide exit=one\nls\n```\n",
		"unclosed":           "```sh guide\nls\n",
		"start with a value": "```sh guide start=now\nmake dev\n```\n",
	} {
		if _, err := parseGuide(bad); err == nil {
			t.Errorf("%s: parsed without an error", name)
		}
	}
}

func TestGuideOutputMatching(t *testing.T) {
	cases := []struct {
		name, expected, actual string
		match                  bool
	}{
		{"exact", "a\nb", "a\nb\n", true},
		{"column widths", "NAME   READY   AGE\ndemo   True    12s", "NAME    READY    AGE\ndemo    True     3m20s\n", true},
		{"times and UUIDs", "expires 2026-12-02T00:42:37Z (in 29s), id e3223ef8-3332-43fb-96cc-4d7e2dd6aca7",
			"expires 2027-01-01T10:00:00.5Z (in 3s), id 00000000-1111-2222-3333-444444444444", true},
		{"tabs", "  echo  Returns", "  echo\tReturns", true},
		{"a word differs", "demo   True", "demo   False", false},
		{"a count differs", "Tools (3):", "Tools (4):", false},
		{"a line missing", "a\nb\nc", "a\nc", false},
		{"a line too many", "a\nc", "a\nb\nc", false},
		{"wildcard lines", "...\nbanner\n...", "build\nstart\nbanner\n[status] x\n", true},
		{"wildcard lines, none", "...\nbanner\n...", "banner", true},
		{"wildcard in a line", "Secret default/demo-login-...)", "Secret default/demo-login-x7k2p)", true},
		{"wildcard stays in its line", "a...\nc", "a\nb\nc", false},
		{"regexp characters are literal", "(HTTP 503): [x]", "(HTTP 503): [x]", true},
		{"empty", "", "", true},
	}
	for _, c := range cases {
		if got := outputMatches(c.expected, c.actual); got != c.match {
			t.Errorf("%s: outputMatches(%q, %q) = %v", c.name, c.expected, c.actual, got)
		}
	}
}
