package actors

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// mailboxInvoker records what a universeMailbox hands over, and can post
// more while it runs (as the universe's self-sends and other senders do).
type mailboxInvoker struct {
	got       []string
	escalated []any
	onApply   func(id string) // called for each command, after it is noted
}

func (*mailboxInvoker) InvokeSystemMessage(any) {}
func (r *mailboxInvoker) EscalateFailure(reason, _ any) {
	r.escalated = append(r.escalated, reason)
}
func (r *mailboxInvoker) InvokeUserMessage(m any) {
	switch m := m.(type) {
	case *apply:
		id := string(m.cmd.ID)
		r.got = append(r.got, id)
		if r.onApply != nil {
			r.onApply(id)
		}
	default:
		r.got = append(r.got, fmt.Sprintf("%T", m))
	}
}

// testClock is a universeMailbox's clock that moves only when told.
type testClock struct{ t time.Duration }

func (c *testClock) now() time.Duration { return c.t }

// testMailbox is a universe mailbox on a held dispatcher and a test clock,
// idle for long enough that a command runs inline.
func testMailbox() (*universeMailbox, *mailboxInvoker, *heldDispatcher, *testClock) {
	mb := newUniverseMailbox().(*universeMailbox)
	inv, disp, clock := &mailboxInvoker{}, &heldDispatcher{}, &testClock{t: inlineAfter}
	mb.now = clock.now
	mb.RegisterHandlers(inv, disp)
	return mb, inv, disp, clock
}

func mailboxCmd(id string) *apply {
	return &apply{cmd: &Command{Kind: KindDMX, ID: ID(id)}}
}

// TestUniverseMailboxRunsIdleCommandInline: a command that finds the
// universe idle for inlineAfter is applied before its sender's post
// returns; anything else, or a command that finds it busy or idle for
// less, waits for the dispatcher. A time.Duration in post moves the clock.
func TestUniverseMailboxRunsIdleCommandInline(t *testing.T) {
	tests := []struct {
		name      string
		post      []any
		inline    []string // handed over before the dispatcher ran
		scheduled bool     // the dispatcher was asked to run the mailbox
		later     []string // handed over by the dispatcher's run
	}{
		{
			name:   "command to an idle universe",
			post:   []any{mailboxCmd("a")},
			inline: []string{"a"},
		},
		{
			name:   "commands inlineAfter apart",
			post:   []any{mailboxCmd("a"), inlineAfter, mailboxCmd("b")},
			inline: []string{"a", "b"},
		},
		{
			name:      "command soon after the last run",
			post:      []any{mailboxCmd("a"), inlineAfter - time.Microsecond, mailboxCmd("b")},
			inline:    []string{"a"},
			scheduled: true,
			later:     []string{"b"},
		},
		{
			name:      "tick to an idle universe",
			post:      []any{&tick{}},
			scheduled: true,
			later:     []string{"*actors.tick"},
		},
		{
			name:      "command behind a tick",
			post:      []any{&tick{}, inlineAfter, mailboxCmd("a")},
			scheduled: true,
			later:     []string{"*actors.tick", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb, inv, disp, clock := testMailbox()
			for _, m := range tt.post {
				if d, ok := m.(time.Duration); ok {
					clock.t += d
					continue
				}
				mb.PostUserMessage(m)
			}
			if !slices.Equal(inv.got, tt.inline) {
				t.Errorf("ran on the sender %q, want %q", inv.got, tt.inline)
			}
			if (disp.run != nil) != tt.scheduled {
				t.Fatalf("dispatcher asked to run: %v, want %v", disp.run != nil, tt.scheduled)
			}
			if disp.run == nil {
				return
			}
			inv.got = nil
			disp.run()
			if !slices.Equal(inv.got, tt.later) {
				t.Errorf("ran on the dispatcher %q, want %q", inv.got, tt.later)
			}
			if n := mb.UserMessageCount(); n != 0 {
				t.Errorf("%d user messages left", n)
			}
		})
	}
}

// TestUniverseMailboxInlineRunIsBounded: when messages keep arriving
// during a sender's run, the sender stops after inlineRun of them and the
// dispatcher runs the rest, in order; afterwards the mailbox is idle again.
func TestUniverseMailboxInlineRunIsBounded(t *testing.T) {
	mb, inv, disp, clock := testMailbox()
	var want []string
	for i := range 3 * inlineRun {
		want = append(want, fmt.Sprint(i))
	}
	inv.onApply = func(id string) {
		if id == "0" {
			for _, id := range want[1:] {
				mb.PostUserMessage(mailboxCmd(id))
			}
		}
	}
	mb.PostUserMessage(mailboxCmd("0"))
	if !slices.Equal(inv.got, want[:inlineRun]) {
		t.Fatalf("the sender ran %q, want the first %d: %q", inv.got, inlineRun, want[:inlineRun])
	}
	if disp.run == nil {
		t.Fatal("the rest was not handed to the dispatcher")
	}
	disp.run()
	if !slices.Equal(inv.got, want) {
		t.Fatalf("handed over %q, want %q", inv.got, want)
	}
	inv.got, disp.run = nil, nil
	clock.t += inlineAfter
	mb.PostUserMessage(mailboxCmd("again"))
	if !slices.Equal(inv.got, []string{"again"}) || disp.run != nil {
		t.Errorf("after the dispatcher's run a command ran %q (dispatcher asked: %v), want inline", inv.got, disp.run != nil)
	}
}

// TestUniverseMailboxEscalatesPanic: a panic in the actor reaches its
// supervisor and does not leave the mailbox stuck.
func TestUniverseMailboxEscalatesPanic(t *testing.T) {
	mb, inv, disp, clock := testMailbox()
	inv.onApply = func(id string) {
		if id == "boom" {
			panic("boom")
		}
	}
	mb.PostUserMessage(mailboxCmd("boom"))
	if !slices.Equal(inv.escalated, []any{"boom"}) {
		t.Fatalf("escalated %v, want the panic", inv.escalated)
	}
	clock.t += inlineAfter
	mb.PostUserMessage(mailboxCmd("next"))
	if !slices.Equal(inv.got, []string{"boom", "next"}) || disp.run != nil {
		t.Errorf("handed over %q (dispatcher asked: %v), want the next command inline", inv.got, disp.run != nil)
	}
}

// TestUniverseMailboxSuspends: between SuspendMailbox and ResumeMailbox
// (a restart) no user message is handed over, inline or not.
func TestUniverseMailboxSuspends(t *testing.T) {
	mb, inv, disp, clock := testMailbox()
	mb.PostSystemMessage(&actor.SuspendMailbox{})
	disp.run()
	disp.run = nil
	clock.t += inlineAfter // the command runs inline, and must stop at once
	mb.PostUserMessage(mailboxCmd("a"))
	if len(inv.got) != 0 {
		t.Fatalf("a suspended mailbox handed over %q", inv.got)
	}
	mb.PostSystemMessage(&actor.ResumeMailbox{})
	if disp.run == nil {
		t.Fatal("resuming scheduled no run")
	}
	disp.run()
	if !slices.Equal(inv.got, []string{"a"}) {
		t.Errorf("after resuming handed over %q, want [a]", inv.got)
	}
}

// exclusiveInvoker fails when two goroutines run the actor at once, and
// counts each sender's commands in order. Its fields are plain: the race
// detector reports any run the mailbox did not order after the previous.
type exclusiveInvoker struct {
	t       *testing.T
	running bool
	next    map[string]int // each sender's next expected sequence number
	total   int
}

func (*exclusiveInvoker) InvokeSystemMessage(any) {}
func (e *exclusiveInvoker) EscalateFailure(reason, _ any) {
	e.t.Errorf("escalated %v", reason)
}
func (e *exclusiveInvoker) InvokeUserMessage(m any) {
	if e.running {
		e.t.Error("two goroutines ran the actor at once")
	}
	e.running = true
	var sender string
	var seq int
	if _, err := fmt.Sscanf(string(m.(*apply).cmd.ID), "%s %d", &sender, &seq); err != nil {
		e.t.Errorf("bad id %q: %v", m.(*apply).cmd.ID, err)
	}
	if seq != e.next[sender] {
		e.t.Errorf("%s: got command %d, want %d", sender, seq, e.next[sender])
	}
	e.next[sender] = seq + 1
	e.total++
	e.running = false
}

// TestUniverseMailboxConcurrentSenders: many senders at once, on
// protoactor's goroutine dispatcher, some running the actor themselves:
// every command is handed over once, one at a time, each sender's in its
// order.
func TestUniverseMailboxConcurrentSenders(t *testing.T) {
	const senders, each = 8, 2000
	mb := newUniverseMailbox()
	inv := &exclusiveInvoker{t: t, next: map[string]int{}}
	done := make(chan struct{})
	mb.RegisterHandlers(invokerFunc{inv, func() {
		if inv.total == senders*each {
			close(done)
		}
	}}, actor.NewDefaultDispatcher(300))
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				mb.PostUserMessage(mailboxCmd(fmt.Sprintf("s%d %d", s, i)))
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("not all %d commands were handed over within %v", senders*each, waitTimeout)
	}
	for s := range senders {
		if n := inv.next[fmt.Sprintf("s%d", s)]; n != each {
			t.Errorf("sender %d: %d commands handed over, want %d", s, n, each)
		}
	}
}

// invokerFunc runs after after each user message of its invoker.
type invokerFunc struct {
	*exclusiveInvoker
	after func()
}

func (f invokerFunc) InvokeUserMessage(m any) {
	f.exclusiveInvoker.InvokeUserMessage(m)
	f.after()
}

// TestFifo checks the queue against a slice, through backlogs that empty
// and one that never does, and that the latter does not keep growing.
func TestFifo(t *testing.T) {
	tests := []struct {
		name    string
		backlog int // items kept queued while pushing and popping
		rounds  int
	}{
		{"empties every time", 0, 1000},
		{"small backlog", 3, 1000},
		{"large backlog", 500, 20000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q fifo
			var model []int
			next := 0
			push := func() {
				q.push(next)
				model = append(model, next)
				next++
			}
			pop := func() {
				v, ok := q.pop()
				if len(model) == 0 {
					if ok {
						t.Fatalf("pop of an empty queue gave %v", v)
					}
					return
				}
				if !ok || v != model[0] {
					t.Fatalf("pop gave %v, %v; want %d", v, ok, model[0])
				}
				model = model[1:]
			}
			for range tt.backlog {
				push()
			}
			for range tt.rounds {
				push()
				pop()
				if q.len() != len(model) {
					t.Fatalf("len %d, want %d", q.len(), len(model))
				}
			}
			for range tt.backlog + 1 {
				pop()
			}
			if c := cap(q.items); c > 4*(tt.backlog+1)+64 {
				t.Errorf("capacity %d for a backlog of %d: the queue keeps what it handed over", c, tt.backlog)
			}
		})
	}
}
