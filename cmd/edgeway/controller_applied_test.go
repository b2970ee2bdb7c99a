package main

import (
	"testing"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/source/kube"
)

// observations records what the apply timer observes.
type observations struct{ n int }

func (o *observations) Observe(float64) { o.n++ }

// TestApplyTimerPairsPublishWithACK: a publish is observed once, when an
// ACK has applied every type it changed; a partial ACK, a repeated ACK and
// a translation that changed nothing observe nothing; a node that is gone
// is forgotten.
func TestApplyTimerPairsPublishWithACK(t *testing.T) {
	acked := map[string]string{}
	var obs observations
	timer := newApplyTimer(func(string) map[string]string { return acked }, &obs)
	const node = "ns/gw"
	publish := func(versions map[string]string) {
		timer.published(&kube.Result{Nodes: map[string]*ir.IR{node: {}}, Versions: map[string]map[string]string{node: versions}})
	}
	expect := func(what string, want int) {
		t.Helper()
		if obs.n != want {
			t.Errorf("%s: %d observations, want %d", what, obs.n, want)
		}
	}

	publish(map[string]string{"lds": "1", "rds": "1"})
	acked["lds"] = "1"
	timer.acked(node)
	expect("only the listeners applied", 0)
	acked["rds"] = "1"
	timer.acked(node)
	expect("everything applied", 1)
	timer.acked(node)
	expect("the same ACK again", 1)

	publish(map[string]string{"lds": "1", "rds": "1"})
	timer.acked(node)
	expect("a translation that changed nothing", 1)

	publish(map[string]string{"lds": "1", "rds": "2"})
	acked["rds"] = "2"
	timer.acked(node)
	expect("a route change applied (the listeners unchanged)", 2)

	publish(map[string]string{"lds": "1", "rds": "3"})
	timer.published(&kube.Result{})
	acked["rds"] = "3"
	timer.acked(node)
	expect("the node gone before its ACK", 2)
}
