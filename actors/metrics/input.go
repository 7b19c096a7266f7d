package metrics

import "github.com/prometheus/client_golang/prometheus"

// Input is the metrics of dmxd's network inputs (sACN, Art-Net), on the
// registry of the Metrics they were made from.
type Input struct {
	// Packets counts datagrams received, per protocol.
	Packets *prometheus.CounterVec
	// Malformed counts datagrams dropped as malformed, truncated,
	// oversized or out of spec, per protocol.
	Malformed *prometheus.CounterVec
	// Ignored counts well-formed datagrams not applied: another start
	// code, preview data, a universe dmxd does not take, a late
	// sequence number, a full source table.
	Ignored *prometheus.CounterVec
	// Sources is the number of active network sources, per universe.
	Sources *prometheus.GaugeVec
	// SourcesSeen counts sources that appeared, per protocol.
	SourcesSeen *prometheus.CounterVec
}

// NewInput registers the input metrics on m's registry. Call it once.
func NewInput(m *Metrics) *Input {
	in := &Input{
		Packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "net_packets_received_total",
			Help: "Datagrams a network input received, per protocol.",
		}, []string{"protocol"}),
		Malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "net_packets_malformed_total",
			Help: "Datagrams a network input dropped as malformed, truncated, oversized or out of spec, per protocol.",
		}, []string{"protocol"}),
		Ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "net_packets_ignored_total",
			Help: "Well-formed datagrams a network input did not apply (other start code, preview, universe not taken, late sequence, source table full), per protocol.",
		}, []string{"protocol"}),
		Sources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "net_sources",
			Help: "Active network sources, per universe.",
		}, []string{"universe"}),
		SourcesSeen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "net_sources_seen_total",
			Help: "Network sources that appeared, per protocol.",
		}, []string{"protocol"}),
	}
	m.Registry.MustRegister(in.Packets, in.Malformed, in.Ignored, in.Sources, in.SourcesSeen)
	return in
}
