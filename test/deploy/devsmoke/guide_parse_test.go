package devsmoke

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The markers of docs/getting-started.md. A fenced block's info string says what the test does
// with it; GitHub shows only the language, so readers never see the markers.
//
//	```sh guide                  run the commands, in order, in one shell; exit status 0
//	```sh guide exit=1           … and the last command exits 1
//	```sh guide eventually=60s   … re-run until the output matches, for up to 60s (read-only commands)
//	```sh guide start            the long-running `make dev`: started in the background
//	```text guide-output         what the block before prints (stdout and stderr), matched as below
//	```sh guide-skip             shown, never run (a command that never ends, such as kubectl get -w)
//	```text guide-skip           an output that is not asserted
//
// Every sh/shell/bash/console or text block must carry one of these, so that no command or
// output can join the guide untested by accident.
const (
	markerGuide  = "guide"
	markerOutput = "guide-output"
	markerSkip   = "guide-skip"
)

// guideStep is one `sh guide` block and the output the guide shows for it.
type guideStep struct {
	line       int // of the opening fence, for messages
	commands   string
	exit       int
	eventually time.Duration
	start      bool
	output     *string // nil: the guide shows no output; only the exit status is checked
}

func (s guideStep) String() string {
	return fmt.Sprintf("the block at line %d (%s)", s.line, firstLine(s.commands))
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

// parseGuide extracts the steps of a guide in document order.
func parseGuide(doc string) ([]guideStep, error) {
	var steps []guideStep
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		fence, info, ok := openingFence(lines[i])
		if !ok {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != fence; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: the block is never closed", start+1)
		}
		text := strings.Join(body, "\n") + "\n"
		fields := strings.Fields(info)
		lang, marker := "", ""
		if len(fields) > 0 {
			lang = fields[0]
		}
		if len(fields) > 1 {
			marker = fields[1]
		}
		switch {
		case isShell(lang) && marker == markerGuide:
			step, err := newStep(start+1, text, fields[2:])
			if err != nil {
				return nil, err
			}
			steps = append(steps, step)
		case lang == "text" && marker == markerOutput:
			if len(steps) == 0 || steps[len(steps)-1].output != nil {
				return nil, fmt.Errorf("line %d: a guide-output block must follow a sh guide block that has none yet", start+1)
			}
			steps[len(steps)-1].output = &text
		case (isShell(lang) || lang == "text") && marker == markerSkip:
		case isShell(lang) || lang == "text":
			return nil, fmt.Errorf("line %d: mark the %s block (%q) with %s, %s or %s", start+1, lang, firstLine(text),
				markerGuide, markerOutput, markerSkip)
		}
	}
	return steps, nil
}

// openingFence recognises ``` or ~~~ (three or more) at the start of a line.
func openingFence(line string) (fence, info string, ok bool) {
	t := strings.TrimLeft(line, " ")
	for _, c := range []string{"`", "~"} {
		n := len(t) - len(strings.TrimLeft(t, c))
		if n >= 3 {
			return strings.Repeat(c, n), strings.TrimSpace(t[n:]), true
		}
	}
	return "", "", false
}

func isShell(lang string) bool {
	switch lang {
	case "sh", "shell", "bash", "console":
		return true
	}
	return false
}

func newStep(line int, commands string, options []string) (guideStep, error) {
	s := guideStep{line: line, commands: commands}
	for _, o := range options {
		key, value, _ := strings.Cut(o, "=")
		var err error
		switch key {
		case "exit":
			s.exit, err = strconv.Atoi(value)
		case "eventually":
			s.eventually, err = time.ParseDuration(value)
		case "start":
			s.start = value == ""
			if !s.start {
				err = fmt.Errorf("start takes no value")
			}
		default:
			err = fmt.Errorf("unknown option")
		}
		if err != nil {
			return s, fmt.Errorf("line %d: %q: %w", line, o, err)
		}
	}
	return s, nil
}

// What changes from run to run is replaced, on both sides, before an output is compared:
// times, UUIDs and ages or durations (28s, 2m30s, 3h). Columns are compared, not their widths:
// a run of spaces (or a tab) after text counts as two spaces.
var guideNormalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`\b\d+[smhdy](\d+[smh])?\b`), "DUR"},
	{regexp.MustCompile(`\t`), "  "},
	{regexp.MustCompile(`(\S) {2,}`), "$1  "},
	{regexp.MustCompile(`[ \t]+\n`), "\n"},
}

// normaliseOutput prepares an output, actual or expected, for matching.
func normaliseOutput(s string) string {
	s = strings.Trim(s, "\n") + "\n"
	for _, n := range guideNormalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return strings.Trim(s, "\n")
}

// outputPattern turns an expected output into a regular expression: a line that is just ...
// stands for any number of lines (none included), and ... inside a line for any text.
func outputPattern(expected string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	for _, line := range strings.Split(normaliseOutput(expected), "\n") {
		if strings.TrimSpace(line) == "..." {
			b.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		parts := strings.Split(line, "...")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(`[^\n]*?`)
			}
			b.WriteString(regexp.QuoteMeta(p))
		}
		b.WriteString(`\n`)
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// outputMatches reports whether actual is what the guide shows.
func outputMatches(expected, actual string) bool {
	return outputPattern(expected).MatchString(normaliseOutput(actual) + "\n")
}
