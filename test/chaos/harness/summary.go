package harness

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxViolations is how many violations are kept word for word, at most
// examplesPerKind of each kind (same format string).
const (
	maxViolations   = 200
	examplesPerKind = 5
)

// OutputStats are the frame measurements of one pty output.
type OutputStats struct {
	Universe int `json:"universe"`
	Frames   int `json:"frames"`
	// Windows is how many whole 1-second windows were measured.
	Windows int `json:"windows"`
	// MinWindowFrames is the fewest frames in one of them.
	MinWindowFrames int `json:"min_window_frames"`
	// MaxGap is the longest time between two frames while plugged in.
	MaxGap time.Duration `json:"max_gap_ns"`
	// WorstGaps are the longest gaps, when they began and how the next
	// frames were spaced (a burst, spacing 0, points at a late reader).
	WorstGaps []string `json:"worst_gaps"`
	// WriterLate counts the intervals longer than the gap bound between
	// the starts of two frame writes as dmxd itself timed them (its
	// dmxd_frame_interval_seconds histogram, over both dmxd processes),
	// and LoopLate those of them whose wait after the first write had
	// ended was longer than the bound too (dmxd_frame_wait_seconds): the
	// refresh loop started the frame late. The others were held up by
	// the device, whose write took the time (on a pty: its reader's
	// kernel worker was late); they are reported. -1: /metrics had none.
	// LoopLate is the writer-timing check: any is a violation.
	WriterLate int `json:"writer_late"`
	LoopLate   int `json:"loop_late"`
	// ArrivalLate counts the gaps at the recorder longer than the gap
	// bound, and ShortWindows the 1-second windows with fewer frames than
	// the bound; both are reported. Only a gap over ArrivalMaxGap is an
	// arrival violation (see frameLog.analyse).
	ArrivalLate   int           `json:"arrival_late"`
	ShortWindows  int           `json:"short_windows"`
	ArrivalMaxGap time.Duration `json:"arrival_max_gap_ns"`
}

// FloodStats are the measurements of the flood phase (see flood.go).
type FloodStats struct {
	// Desks flooded at Rate commands per second each, under ConnRate.
	Desks    int     `json:"desks"`
	Rate     float64 `json:"rate_per_desk"`
	ConnRate int     `json:"conn_rate"`
	// Start is when the phase began, from the start of the run, and
	// Length how long the desks flooded; StoppedEarly says that the
	// memory cap ended the phase (see floodAbortFactor).
	Start        time.Duration `json:"start_ns"`
	Length       time.Duration `json:"length_ns"`
	StoppedEarly bool          `json:"stopped_early"`
	// Sent flood commands, WithID of them with an id, Acked acks of those.
	Sent   int64 `json:"commands_sent"`
	WithID int64 `json:"commands_with_id"`
	Acked  int64 `json:"commands_acked"`
	// HeapBase is the highest Go heap in use or GC goal sampled before the
	// phase, HeapBound the bound on the heap in use during it and HeapPeak
	// the highest sampled; all -1 without /metrics. RSSBase and RSSPeak
	// are dmxd's RSS before and at most during the phase; Samples counts
	// the samples of the phase.
	HeapBase  int64 `json:"heap_base_bytes"`
	HeapBound int64 `json:"heap_bound_bytes"`
	HeapPeak  int64 `json:"heap_peak_bytes"`
	RSSBase   int64 `json:"rss_base_bytes"`
	RSSPeak   int64 `json:"rss_peak_bytes"`
	Samples   int   `json:"memory_samples"`
	// Probes is how many probe changes were timed from sending to the pty
	// frame; Dark how many were not, held back by a blackout.
	Probes   int           `json:"probes"`
	Dark     int           `json:"probes_in_blackout"`
	ProbeP50 time.Duration `json:"probe_p50_ns"`
	// OwnP50 and OwnP99 bound dmxd's own latency of the commands it read
	// during the phase, flood and probe alike (dmxd_command_latency_seconds:
	// read to published; a histogram bucket's upper bound, -1 past the
	// last), OwnCount how many commands that is.
	OwnP50   time.Duration `json:"own_latency_p50_ns"`
	OwnP99   time.Duration `json:"own_latency_p99_ns"`
	OwnCount int64         `json:"own_latency_commands"`
	ProbeP99 time.Duration `json:"probe_p99_ns"`
	ProbeMax time.Duration `json:"probe_max_ns"`
	// ProbeBound and AckBound are the bounds on a probe's frame and ack;
	// AckMax is the slowest ack.
	ProbeBound time.Duration `json:"probe_bound_ns"`
	AckMax     time.Duration `json:"probe_ack_max_ns"`
	AckBound   time.Duration `json:"probe_ack_bound_ns"`
}

// Summary is the outcome of a run.
type Summary struct {
	Seed        uint64        `json:"seed"`
	Conns       int           `json:"conns"`
	Duration    time.Duration `json:"duration_ns"`
	Wall        time.Duration `json:"wall_ns"`
	Opened      int64         `json:"connections_opened"`
	PeakConns   int           `json:"peak_connections"`
	CmdSent     int64         `json:"commands_sent"`
	CmdAcked    int64         `json:"commands_acked"`
	OwnerAcked  int64         `json:"owner_commands_acked"`
	Received    int64         `json:"messages_received"`
	Counts      map[string]int64
	Outputs     []OutputStats `json:"outputs"`
	ReplugAfter time.Duration `json:"replug_resume_ns"`
	RestartGap  time.Duration `json:"restart_no_frames_ns"`
	// DMXDCPU and DMXDRunWait are dmxd's CPU time and its threads' wait on
	// the OS run queue over the run (both dmxd processes).
	DMXDCPU     time.Duration `json:"dmxd_cpu_ns"`
	DMXDRunWait time.Duration `json:"dmxd_runqueue_wait_ns"`
	RSSBase     int64         `json:"rss_baseline_bytes"`
	RSSPeak     int64         `json:"rss_peak_bytes"`
	RSSAfter    int64         `json:"rss_after_bytes"`
	// HeapBase and HeapAfter are go_memstats_heap_inuse_bytes from
	// /metrics; -1 when dmxd exposes no such metric.
	HeapBase  int64 `json:"heap_inuse_baseline_bytes"`
	HeapAfter int64 `json:"heap_inuse_after_bytes"`
	// GoroutinesBefore and After come from /metrics go_goroutines; -1
	// when dmxd exposes no such metric.
	GoroutinesBefore int `json:"goroutines_before"`
	GoroutinesAfter  int `json:"goroutines_after"`
	// Flood is the flood phase; nil when it did not run.
	Flood *FloodStats `json:"flood,omitempty"`
	// Violations are the broken invariants; a run passes when empty.
	Violations []string `json:"violations"`
	// ViolationCount counts all of them, beyond the ones kept.
	ViolationCount int `json:"violation_count"`
}

// stats are the counters the clients share.
type stats struct {
	opened, sent, acked, ownerAcked, received atomic.Int64
	mu                                        sync.Mutex
	counts                                    map[string]int64
	violations                                []string
	nviol                                     int
	byFormat                                  map[string]int
	live                                      map[string]int // sessions under way, by role
}

// active counts a session of role starting (+1) or ending (-1).
func (s *stats) active(role string, d int) {
	s.mu.Lock()
	s.live[role] += d
	s.mu.Unlock()
}

// liveRoles describes the sessions still under way.
func (s *stats) liveRoles() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.live)) {
		if s.live[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, s.live[k]))
		}
	}
	return strings.Join(parts, " ")
}

func newStats() *stats {
	return &stats{counts: map[string]int64{}, byFormat: map[string]int{}, live: map[string]int{}}
}

// add counts one event of kind.
func (s *stats) add(kind string) {
	s.mu.Lock()
	s.counts[kind]++
	s.mu.Unlock()
}

// violate records a broken invariant.
func (s *stats) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nviol++
	s.byFormat[format]++
	if s.byFormat[format] <= examplesPerKind && len(s.violations) < maxViolations {
		s.violations = append(s.violations, time.Now().Format("15:04:05.000")+" "+msg)
	} else if s.byFormat[format] == examplesPerKind+1 {
		s.violations = append(s.violations, fmt.Sprintf("(more like the above: %q)", format))
	}
}

// fill copies the counters into sum.
func (s *stats) fill(sum *Summary) {
	sum.Opened = s.opened.Load()
	sum.CmdSent = s.sent.Load()
	sum.CmdAcked = s.acked.Load()
	sum.OwnerAcked = s.ownerAcked.Load()
	sum.Received = s.received.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	sum.Counts = maps.Clone(s.counts)
	sum.Violations = slices.Clone(s.violations)
	sum.ViolationCount = s.nviol
}

// WriteTable prints the summary as a table.
func (sum *Summary) WriteTable(w io.Writer) {
	row := func(k string, v any) { fmt.Fprintf(w, "| %-38s | %-28v |\n", k, v) }
	fmt.Fprintf(w, "| %-38s | %-28s |\n", "chaos run", "")
	fmt.Fprintf(w, "| %s | %s |\n", strings.Repeat("-", 38), strings.Repeat("-", 28))
	row("seed / slots / duration", fmt.Sprintf("%d / %d / %v", sum.Seed, sum.Conns, sum.Duration))
	row("wall time", sum.Wall.Round(time.Millisecond))
	row("connections opened", sum.Opened)
	row("peak concurrent connections (healthz)", sum.PeakConns)
	row("commands sent / acked", fmt.Sprintf("%d / %d", sum.CmdSent, sum.CmdAcked))
	row("owner commands acked (model)", sum.OwnerAcked)
	row("server messages received", sum.Received)
	for _, o := range sum.Outputs {
		row(fmt.Sprintf("universe %d frames / 1 s windows", o.Universe), fmt.Sprintf("%d / %d", o.Frames, o.Windows))
		row(fmt.Sprintf("universe %d min frames per 1 s window", o.Universe), o.MinWindowFrames)
		row(fmt.Sprintf("universe %d max frame gap", o.Universe), o.MaxGap.Round(100*time.Microsecond))
		row(fmt.Sprintf("universe %d writer timing: late writes / started late by the loop", o.Universe), fmt.Sprintf("%d / %d", o.WriterLate, o.LoopLate))
		row(fmt.Sprintf("universe %d arrival: gaps over the bound", o.Universe), o.ArrivalLate)
		row(fmt.Sprintf("universe %d arrival: short 1 s windows", o.Universe), o.ShortWindows)
		for _, g := range o.WorstGaps {
			fmt.Fprintf(w, "    universe %d gap %s\n", o.Universe, g)
		}
	}
	row("frames resumed after replug", sum.ReplugAfter.Round(time.Millisecond))
	row("no frames during restart", sum.RestartGap.Round(time.Millisecond))
	row("dmxd CPU time / OS run-queue wait", fmt.Sprintf("%v / %v", sum.DMXDCPU.Round(time.Millisecond), sum.DMXDRunWait.Round(time.Millisecond)))
	row("RSS baseline / peak / after", fmt.Sprintf("%s / %s / %s", mib(sum.RSSBase), mib(sum.RSSPeak), mib(sum.RSSAfter)))
	if sum.HeapBase >= 0 {
		row("Go heap in use before / after", fmt.Sprintf("%s / %s", mib(sum.HeapBase), mib(sum.HeapAfter)))
	} else {
		row("Go heap in use before / after", "n/a (no /metrics)")
	}
	row("goroutines before / after", fmt.Sprintf("%s / %s", gor(sum.GoroutinesBefore), gor(sum.GoroutinesAfter)))
	if f := sum.Flood; f != nil {
		stopped := ""
		if f.StoppedEarly {
			stopped = ", stopped early (memory cap)"
		}
		row("flood desks × rate (limit) / window", fmt.Sprintf("%d × %.0f/s (%d/s) / %v from %v%s", f.Desks, f.Rate, f.ConnRate, f.Length.Round(time.Millisecond), f.Start.Round(time.Millisecond), stopped))
		row("flood commands sent / with id / acked", fmt.Sprintf("%d / %d / %d", f.Sent, f.WithID, f.Acked))
		if f.HeapBase >= 0 {
			row("flood Go heap peak / bound", fmt.Sprintf("%s / %s (base %s, %d samples)", mib(f.HeapPeak), mib(f.HeapBound), mib(f.HeapBase), f.Samples))
		} else {
			row("flood Go heap peak / bound", "n/a (no /metrics)")
		}
		row("flood RSS before / peak", fmt.Sprintf("%s / %s", mib(f.RSSBase), mib(f.RSSPeak)))
		row("flood probes timed / in blackout", fmt.Sprintf("%d / %d", f.Probes, f.Dark))
		row("flood probe to frame p50 / p99 / max", fmt.Sprintf("%v / %v / %v (bound %v)", f.ProbeP50.Round(100*time.Microsecond), f.ProbeP99.Round(100*time.Microsecond), f.ProbeMax.Round(100*time.Microsecond), f.ProbeBound))
		bound := func(d time.Duration) string {
			if d < 0 {
				return "> 1s"
			}
			return "≤ " + d.String()
		}
		row("flood: dmxd's own read → published p50 / p99", fmt.Sprintf("%s / %s of %d commands (histogram buckets)", bound(f.OwnP50), bound(f.OwnP99), f.OwnCount))
		row("flood probe ack max", fmt.Sprintf("%v (bound %v)", f.AckMax.Round(100*time.Microsecond), f.AckBound))
	}
	keys := slices.Sorted(maps.Keys(sum.Counts))
	for _, k := range keys {
		row(k, sum.Counts[k])
	}
	row("violations", sum.ViolationCount)
	for _, v := range sum.Violations {
		fmt.Fprintf(w, "  VIOLATION %s\n", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b int64) string { return fmt.Sprintf("%d KiB", b>>10) }

func gor(n int) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprint(n)
}
