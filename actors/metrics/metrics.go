// Package metrics holds dmxd's Prometheus collectors, registered on a
// registry of their own (never the default registry, never protoactor's
// provider) and served by the transport as GET /metrics.
//
// Concurrency: every collector is safe for concurrent use and counts
// without blocking; the per-universe children returned by Output are
// resolved once, so that counting on the frame path allocates nothing.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every dmxd metric.
const namespace = "dmxd"

// FrameIntervalBuckets are the upper bounds, in seconds, of the
// frame-interval histogram: dense around one period at 44 Hz (22.7 ms),
// with room for early frames (a few ms) and for gaps.
var FrameIntervalBuckets = []float64{
	0.001, 0.002, 0.005, 0.010, 0.015, 0.020, 0.021, 0.022, 0.0225,
	0.023, 0.0235, 0.024, 0.025, 0.030, 0.0455, 0.100, 0.250, 1,
}

// CommandLatencyBuckets are the buckets of dmxd_command_latency_seconds.
var CommandLatencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.010, 0.020, 0.050, 0.100, 0.250, 1,
}

// Metrics is every dmxd metric. The zero value is not usable; use New.
type Metrics struct {
	// Registry holds the collectors below and the Go runtime and process
	// collectors.
	Registry *prometheus.Registry
	// FramesSent counts frames written to each universe's device.
	FramesSent *prometheus.CounterVec
	// FrameInterval observes the time between the starts of two frame
	// writes, per universe.
	FrameInterval *prometheus.HistogramVec
	// FrameWait observes, per universe, the part of each frame interval
	// after the previous frame's write had ended: the refresh loop's own
	// wait. The rest of the interval is the write, as long as the device
	// takes to accept the bytes; a late loop lengthens the wait.
	FrameWait *prometheus.HistogramVec
	// FrameStartLate observes, per universe, how long after a frame could
	// go out its write started (after its due time for a refresh, after
	// the later of its publish and the minimum gap for a changed frame):
	// the refresh loop's wake-up latency.
	FrameStartLate *prometheus.HistogramVec
	// FrameRefreshes counts frames the refresh loop wrote again because no
	// newer one was published (a universe publishes when its levels
	// change, so an idle output only refreshes).
	FrameRefreshes *prometheus.CounterVec
	// OutputUp is 1 while a universe's output is up, 0 while it is down.
	OutputUp *prometheus.GaugeVec
	// NetPackets counts the datagrams a network output (sACN, Art-Net)
	// sent, one per destination per frame.
	NetPackets *prometheus.CounterVec
	// NetSendErrors counts the datagrams a network output's socket refused.
	NetSendErrors *prometheus.CounterVec
	// Connections is the number of open WebSocket connections.
	Connections prometheus.Gauge
	// CommandsAccepted counts commands that passed decoding and the rate
	// limit and went to their universe.
	CommandsAccepted prometheus.Counter
	// CommandLatency observes, for each command a desk sent, the time from
	// its read pump having read it to its universe having published the
	// frame that carries it (the end of its batch): dmxd's own part of a
	// change's way to the light, without the network before it and the
	// output's minimum gap after it.
	CommandLatency prometheus.Histogram
	// CommandsRefused counts refused commands by protocol error code.
	CommandsRefused *prometheus.CounterVec
	// QueueDrops counts server messages dropped because a client's send
	// queue was full.
	QueueDrops prometheus.Counter
	// SlowCloses counts clients closed with 1013 for reading too slowly.
	SlowCloses prometheus.Counter
	// WindowWaits counts the times a connection's reader stopped reading
	// its socket because the connection's window of commands in flight
	// was used up (backpressure).
	WindowWaits prometheus.Counter
	// StateSaves counts state files written (persistence increments it).
	StateSaves prometheus.Counter
	// BuildInfo is 1 for the version, Go version and VCS revision dmxd
	// was built from (SetBuild); no series until it is set.
	BuildInfo *prometheus.GaugeVec
}

// New returns dmxd's metrics on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		FramesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "frames_sent_total",
			Help: "Frames written to the output device, per universe.",
		}, []string{"universe"}),
		FrameInterval: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "frame_interval_seconds",
			Help:    "Time between the starts of two frame writes, per universe.",
			Buckets: FrameIntervalBuckets,
		}, []string{"universe"}),
		FrameWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "frame_wait_seconds",
			Help:    "Time from the end of one frame write to the start of the next, per universe: the refresh loop's own part of the frame interval.",
			Buckets: FrameIntervalBuckets,
		}, []string{"universe"}),
		FrameStartLate: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "frame_start_late_seconds",
			Help:    "How long after a frame could go out (its due time, or a changed frame's publish once the minimum gap allowed) its write started, per universe: the refresh loop's wake-up latency.",
			Buckets: CommandLatencyBuckets,
		}, []string{"universe"}),
		FrameRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "frame_refreshes_total",
			Help: "Frames written again because no newer frame was published, per universe.",
		}, []string{"universe"}),
		OutputUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "output_up",
			Help: "1 while the universe's output is up, 0 while it is down.",
		}, []string{"universe", "driver"}),
		NetPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "net_packets_sent_total",
			Help: "Datagrams a network output (sACN, Art-Net) sent, one per destination per frame.",
		}, []string{"universe", "driver", "target"}),
		NetSendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "net_send_errors_total",
			Help: "Datagrams a network output's socket refused.",
		}, []string{"universe", "driver", "target"}),
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "connections",
			Help: "Open WebSocket connections.",
		}),
		CommandsAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "commands_accepted_total",
			Help: "Commands decoded, within the rate limit and passed to their universe.",
		}),
		CommandLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "command_latency_seconds",
			Help:    "From a desk's command read to the frame carrying it published to the outputs.",
			Buckets: CommandLatencyBuckets,
		}),
		CommandsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "commands_refused_total",
			Help: "Commands refused, by protocol error code.",
		}, []string{"code"}),
		QueueDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "send_queue_drops_total",
			Help: "Server messages dropped because a client's send queue was full.",
		}),
		SlowCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "slow_client_closes_total",
			Help: "Clients closed with 1013 because they read their updates too slowly.",
		}),
		WindowWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "window_waits_total",
			Help: "Times a connection's reader stopped reading because its window of commands in flight was used up.",
		}),
		StateSaves: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "state_saves_total",
			Help: "State files written.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "build_info",
			Help: "1, labelled with the version, Go version and VCS revision dmxd was built from.",
		}, []string{"version", "goversion", "revision"}),
	}
	m.Registry.MustRegister(
		m.FramesSent, m.FrameInterval, m.FrameWait, m.FrameStartLate, m.FrameRefreshes, m.OutputUp, m.NetPackets, m.NetSendErrors, m.Connections,
		m.CommandsAccepted, m.CommandLatency, m.CommandsRefused, m.QueueDrops, m.SlowCloses, m.WindowWaits, m.StateSaves, m.BuildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// SetBuild sets dmxd_build_info to 1 for this build, replacing any
// build set before.
func (m *Metrics) SetBuild(version, goVersion, revision string) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, goVersion, revision).Set(1)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Output is the metrics of one universe's output, resolved once so that
// the writer counts without a label lookup.
type Output struct {
	// Frames counts frames written.
	Frames prometheus.Counter
	// Interval observes seconds between the starts of two writes, Wait
	// the part of each after the first write had ended, and StartLate how
	// late each write started (see Metrics).
	Interval, Wait, StartLate prometheus.Observer
	// Refreshes counts frames written again without a newer one.
	Refreshes prometheus.Counter
	// Up is 1 while the output is up.
	Up prometheus.Gauge
	// Packets and SendErrors count a network output's datagrams (see
	// OutputSpec.Network); other outputs count into unregistered ones.
	Packets, SendErrors prometheus.Counter
}

// OutputSpec names one output for its metrics.
type OutputSpec struct {
	Universe int
	Driver   string
	Target   string // the device or destinations, a label of network metrics
	// First is the universe's first output: the per-universe frame
	// metrics (frames, refreshes, intervals) follow it alone, so that
	// their meaning does not change with a second output.
	First bool
	// Network outputs get the datagram counters.
	Network bool
}

// Output returns the metrics of the output s. The output starts down (0)
// until its device opens. Two outputs of one universe with the same
// driver share dmxd_output_up.
func (m *Metrics) Output(s OutputSpec) Output {
	l := strconv.Itoa(s.Universe)
	o := Output{
		Frames:     prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"}),
		Interval:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unregistered"}),
		Wait:       prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unregistered"}),
		StartLate:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unregistered"}),
		Refreshes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"}),
		Up:         m.OutputUp.WithLabelValues(l, s.Driver),
		Packets:    prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"}),
		SendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"}),
	}
	if s.First {
		o.Frames = m.FramesSent.WithLabelValues(l)
		o.Interval = m.FrameInterval.WithLabelValues(l)
		o.Wait = m.FrameWait.WithLabelValues(l)
		o.StartLate = m.FrameStartLate.WithLabelValues(l)
		o.Refreshes = m.FrameRefreshes.WithLabelValues(l)
	}
	if s.Network {
		o.Packets = m.NetPackets.WithLabelValues(l, s.Driver, s.Target)
		o.SendErrors = m.NetSendErrors.WithLabelValues(l, s.Driver, s.Target)
	}
	o.Up.Set(0)
	return o
}
