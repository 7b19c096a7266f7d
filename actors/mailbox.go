package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// universeMailbox is the universe actor's mailbox. It runs like
// protoactor's default mailbox with a priority queue — system messages
// first, then quiet user messages (see quietPriority), then the others, on
// a goroutine of the dispatcher until the queue is empty — with one
// difference: a command (*apply) posted to a universe that has been idle
// for at least inlineAfter is applied at once on the goroutine that posted
// it, a desk's read pump, for at most inlineRun messages. That is the
// command, the end of its batch and the frame handed to the output,
// without the wait for a new goroutine to be scheduled and, on an idle
// machine, for an idle processor to be woken. Only when messages remain
// after inlineRun does a goroutine take over, so a read pump never runs
// more than a small bounded share of the universe's work.
//
// A universe that was busy within inlineAfter runs on the dispatcher's
// goroutine only. Under a flood a read pump has usually used up most of
// its time slice when it posts; preempted in the middle of an inline run,
// it would hold the universe behind every runnable flooder (the likely
// cause of what was measured: the flood probe's p99 rose from 2.7 to
// 7.1 ms when every idle moment ran inline).
//
// Commands come from connection actors, plain HTTP and edges, none of
// which holds a lock or runs on a real-time thread while it sends; every
// other message (ticks, output states from the writer's thread, network
// input) is run on the dispatcher's goroutine as protoactor does.
//
// The queue has no bound of its own: what waits in it is bounded by the
// connections' credit windows (see DefaultWindow).
type universeMailbox struct {
	mu     sync.Mutex
	system fifo // system messages, always first
	quiet  fifo // user messages of quietPriority
	normal fifo // every other user message
	users  atomic.Int32

	status    atomic.Int32 // mailboxIdle or mailboxRunning: who runs the actor
	suspended atomic.Bool  // between SuspendMailbox and ResumeMailbox; only the runner writes it

	idleSince atomic.Int64 // when the last run ended, by now; 0: never ran
	now       func() time.Duration

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

// inlineRun is how many messages a command's sender runs at most when it
// found the universe idle: the command, its end of batch and a few that
// came meanwhile.
const inlineRun = 8

const (
	mailboxIdle int32 = iota
	mailboxRunning
)

// inlineAfter is how long a universe must have been idle for a command
// to run on its sender's goroutine: more than the gaps between commands
// under load, less than the gaps a person at a fader leaves.
const inlineAfter = time.Millisecond

// newUniverseMailbox is the universe's actor.MailboxProducer.
func newUniverseMailbox() actor.Mailbox {
	start := time.Now()
	return &universeMailbox{now: func() time.Duration { return time.Since(start) + inlineAfter }}
}

func (m *universeMailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	if p, ok := msg.(actor.PriorityMessage); ok && p.GetPriority() > actor.DefaultPriority {
		m.quiet.push(msg)
	} else {
		m.normal.push(msg)
	}
	m.mu.Unlock()
	m.users.Add(1)
	if !m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
		return // the runner will see it
	}
	if _, ok := msg.(*apply); ok && m.now()-time.Duration(m.idleSince.Load()) >= inlineAfter {
		m.runInline()
		return
	}
	m.dispatcher.Schedule(m.process)
}

func (m *universeMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.system.push(msg)
	m.mu.Unlock()
	if m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
		m.dispatcher.Schedule(m.process)
	}
}

func (m *universeMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker = invoker
	m.dispatcher = dispatcher
}

func (m *universeMailbox) Start() {}

func (m *universeMailbox) UserMessageCount() int { return int(m.users.Load()) }

// runInline runs at most inlineRun messages on the caller's goroutine, then
// hands what is left to the dispatcher.
func (m *universeMailbox) runInline() {
	if m.run(inlineRun) || m.settle() {
		m.dispatcher.Schedule(m.process)
	}
}

// process is the dispatcher's run: until the queue is empty, like
// protoactor's default mailbox.
func (m *universeMailbox) process() {
	for {
		m.run(0)
		if !m.settle() {
			return
		}
	}
}

// settle marks the mailbox idle and reports whether the caller must run
// it again: messages came in after its run ended and no sender took the
// run (a sender that finds the mailbox running leaves its message to the
// runner).
func (m *universeMailbox) settle() bool {
	m.idleSince.Store(int64(m.now()))
	m.status.Store(mailboxIdle)
	m.mu.Lock()
	work := m.system.len() > 0 || (!m.suspended.Load() && m.quiet.len()+m.normal.len() > 0)
	m.mu.Unlock()
	return work && m.status.CompareAndSwap(mailboxIdle, mailboxRunning)
}

// run invokes messages until the queue is empty, the mailbox is suspended
// or, with limit > 0, limit messages ran; it reports whether it stopped at
// the limit. A panic of the actor is escalated to its supervisor, as
// protoactor's mailbox does, and ends the run.
func (m *universeMailbox) run(limit int) (atLimit bool) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	throughput := m.dispatcher.Throughput()
	for n := 1; ; n++ {
		if limit > 0 && n > limit {
			return true
		}
		if limit == 0 && throughput > 0 && n%throughput == 0 {
			runtime.Gosched()
		}
		var system bool
		msg, system = m.next()
		switch {
		case msg == nil:
			return false
		case system:
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
		default:
			m.invoker.InvokeUserMessage(msg)
		}
	}
}

// next pops the next message to run: a system message, or a user message
// unless the mailbox is suspended; nil when there is none.
func (m *universeMailbox) next() (msg any, system bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg, ok := m.system.pop(); ok {
		return msg, true
	}
	if m.suspended.Load() {
		return nil, false
	}
	msg, ok := m.quiet.pop()
	if !ok {
		msg, ok = m.normal.pop()
	}
	if ok {
		m.users.Add(-1)
	}
	return msg, false
}

// fifo is a first-in first-out queue of messages. It is not safe for
// concurrent use.
type fifo struct {
	items []any
	head  int // items[:head] are taken
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(v any) {
	if q.head > 0 && q.head >= len(q.items)/2 {
		// Compact before growing, so a queue that never empties keeps
		// the capacity of its largest backlog, not of all it ever held.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, v)
}

func (q *fifo) pop() (any, bool) {
	if q.head == len(q.items) {
		return nil, false
	}
	v := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return v, true
}
