package main

import "testing"

func TestProbeLevel(t *testing.T) {
	tests := []struct {
		msg     string
		want    byte
		wantErr bool
	}{
		{`{"dmx":{"512":7}}`, 7, false},
		{`{"dmx":{"512":255},"universe":2}`, 255, false},
		{`{"dmx":{"512":0},"id":3}`, 0, false},
		{`{"dmx":{"1":7}}`, 0, true},
		{`{"dmx":{"512":256}}`, 0, true},
		{`{"dmx":{"512":-1}}`, 0, true},
		{`{"dmx":{"512":x}}`, 0, true},
		{`{"dmx":{"512":7`, 0, true},
	}
	for _, tt := range tests {
		got, err := probeLevel([]byte(tt.msg))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("probeLevel(%s) = %d, %v; want %d, error %v", tt.msg, got, err, tt.want, tt.wantErr)
		}
	}
}
