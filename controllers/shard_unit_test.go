package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// A shard takes what its server's labels select; an object whose server does not exist goes
// by its own labels; no selector takes everything.
func TestShardOwns(t *testing.T) {
	shardA := labels.SelectorFromSet(labels.Set{ShardLabel: "a"})
	rest, err := labels.Parse("!" + ShardLabel)
	if err != nil {
		t.Fatal(err)
	}
	inA := map[string]string{ShardLabel: "a"}
	for name, c := range map[string]struct {
		sel          labels.Selector
		server       map[string]string
		serverExists bool
		own          map[string]string
		want         bool
	}{
		"no sharding":                            {nil, inA, true, nil, true},
		"shard a, its server":                    {shardA, inA, true, nil, true},
		"shard a, an unlabelled server":          {shardA, nil, true, nil, false},
		"rest, an unlabelled server":             {rest, nil, true, nil, true},
		"rest, shard a's server":                 {rest, inA, true, nil, false},
		"the server's labels win over the own":   {rest, inA, true, map[string]string{}, false},
		"a credential labelled a, server in a":   {shardA, inA, true, inA, true},
		"a credential labelled a, server unlab.": {shardA, nil, true, inA, false},
		"no server: own labels, shard a":         {shardA, nil, false, inA, true},
		"no server: own labels, rest":            {rest, nil, false, inA, false},
		"no server, no labels: rest":             {rest, nil, false, nil, true},
	} {
		if got := shardOwns(c.sel, c.server, c.serverExists, c.own); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
