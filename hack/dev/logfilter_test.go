package main

import "testing"

func TestFormatManagerLine(t *testing.T) {
	cases := map[string]struct {
		line    string
		verbose bool
		want    string
	}{
		"refresh": {
			line: `{"level":"info","ts":"2026-11-26T21:00:00Z","msg":"Refreshed token","controller":"upstreamserver","namespace":"default","name":"demo","reconcileID":"x","expiresIn":"30s","refreshCount":2}`,
			want: "Refreshed token default/demo expiresIn=30s refreshCount=2",
		},
		"boring is hidden":    {line: `{"level":"info","msg":"Starting workers","controller":"upstreamserver"}`},
		"boring when verbose": {line: `{"level":"info","msg":"Starting workers"}`, verbose: true, want: "Starting workers"},
		"errors are shown": {
			line: `{"level":"error","msg":"Reconciler error","error":"boom"}`,
			want: "ERROR Reconciler error error=boom",
		},
		"plain text hidden":  {line: "W1126 something from klog"},
		"plain text verbose": {line: "W1126 something from klog", verbose: true, want: "W1126 something from klog"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := formatManagerLine(tc.line, tc.verbose); got != tc.want {
				t.Errorf("formatManagerLine() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestManagerLogFilterShowsOneOfAPair(t *testing.T) {
	f := &managerLogFilter{}
	first := `{"level":"info","msg":"Refreshed token","namespace":"default","name":"demo","correlationID":"c1","rotated":true}`
	second := `{"level":"info","msg":"Refreshed token","namespace":"default","name":"demo","correlationID":"c1","refreshCount":1}`
	next := `{"level":"info","msg":"Refreshed token","namespace":"default","name":"demo","correlationID":"c2","refreshCount":2}`
	if got := f.line(first); got == "" {
		t.Fatal("first line of the pair hidden")
	}
	if got := f.line(second); got != "" {
		t.Errorf("second line of the pair shown: %q", got)
	}
	if got := f.line(next); got == "" {
		t.Error("next refresh hidden")
	}
}
