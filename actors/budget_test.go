package actors

import (
	"testing"
	"time"
)

// TestUpdateBudget: a fan-out may start while the bucket is not empty and
// is charged in full, into debt; the bucket refills at its rate up to a
// quarter second; a nil budget allows everything.
func TestUpdateBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newUpdateBudget(20000) // holds 5,000
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	if !b.ready(at(0)) {
		t.Fatal("a full bucket is not ready")
	}
	b.charge(3000)
	if !b.ready(at(0)) {
		t.Fatal("2,000 left, not ready")
	}
	b.charge(3000) // -1,000
	if b.ready(at(0)) {
		t.Fatal("ready in debt")
	}
	if b.ready(at(50 * time.Millisecond)) { // +1,000: 0
		t.Fatal("ready at 0")
	}
	if !b.ready(at(51 * time.Millisecond)) { // +20
		t.Fatal("not ready with 20 left")
	}
	b.charge(5000)                           // -4,980
	if b.ready(at(300 * time.Millisecond)) { // +4,980 over 249 ms: 0
		t.Fatal("ready at 0 after paying the debt")
	}
	if !b.ready(at(10 * time.Second)) {
		t.Fatal("not ready after 10 s")
	}
	b.charge(5000) // the bucket held at most 5,000: now 0
	if b.ready(at(10 * time.Second)) {
		t.Fatal("the bucket held more than a quarter second")
	}
	var none *updateBudget
	if none = newUpdateBudget(0); none != nil {
		t.Fatal("newUpdateBudget(0) is a budget")
	}
	none.charge(1 << 30)
	if !none.ready(at(0)) {
		t.Fatal("no budget is not ready")
	}
}
