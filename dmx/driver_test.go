package dmx_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		spec     string
		universe int
		driver   string
		target   string
		minGap   time.Duration
	}{
		{"1=null", 1, "null", "", time.Millisecond},
		{"2=enttec-pro:/dev/ttyUSB0", 2, "enttec-pro", "/dev/ttyUSB0", time.Millisecond},
		{"3=open-dmx:/dev/serial/by-id/usb-FTDI_FT232R-if00-port0", 3, "open-dmx", "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0", dmx.OpenDMX{}.MinGap()},
		{"1=enttec-pro:relative/path", 1, "enttec-pro", "relative/path", time.Millisecond},
		{"1=enttec-pro:/dev/x:y", 1, "enttec-pro", "/dev/x:y", time.Millisecond}, // only the first colon splits
		{"1=open-dmx:/tmp/a=b", 1, "open-dmx", "/tmp/a=b", dmx.OpenDMX{}.MinGap()},
		{"32768=null", 32768, "null", "", time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			o, err := dmx.ParseOutput(tt.spec)
			if err != nil {
				t.Fatalf("ParseOutput(%q): %v", tt.spec, err)
			}
			if o.Universe != tt.universe || o.Driver.Name() != tt.driver || o.Driver.Target() != tt.target || o.Driver.MinGap() != tt.minGap {
				t.Errorf("got %d %s %q %v, want %d %s %q %v", o.Universe, o.Driver.Name(), o.Driver.Target(), o.Driver.MinGap(),
					tt.universe, tt.driver, tt.target, tt.minGap)
			}
		})
	}
}

func TestParseOutputRefuses(t *testing.T) {
	tests := []struct {
		spec   string
		detail string
	}{
		{"", "want U=DRIVER[:TARGET]"},
		{"null", "want U=DRIVER[:TARGET]"},
		{"enttec-pro:/dev/ttyUSB0", "want U=DRIVER[:TARGET]"},
		{"=null", "universe"},
		{"0=null", "universe"},
		{"-1=null", "universe"},
		{"x=null", "universe"},
		{"1.5=null", "universe"},
		{"32769=null", "universe"},
		{"99999999999999999999=null", "universe"},
		{"1=", "unknown driver"},
		{"1=sACN", "unknown driver"},
		{"1=artnet", "needs the nodes' addresses"},
		{"1=artnet:@3", "needs the nodes' addresses"},
		{"1=artnet:10.0.0.1@32768", "port-address 32768"},
		{"1=artnet:10.0.0.1@-1", "port-address -1"},
		{"1=artnet:10.0.0.1@x", "is not a number"},
		{"1=artnet:10.0.0.1,,10.0.0.2", "empty host"},
		{"1=artnet:10.0.0.1:0", "port 1..65535"},
		{"1=artnet:10.0.0.1:70000", "port 1..65535"},
		{"1=artnet:a b", "want HOST"},
		{"1=sacn:h\nx", "want HOST"},
		{"1=sacn@0", "sACN universe 0"},
		{"1=sacn@64000", "sACN universe 64000"},
		{"1=sacn:", "empty host list"},
		{"1=artnet:", "empty host list"},
		{"1=NULL", "unknown driver"},
		{"1=enttec", "unknown driver"},
		{"1=null:/dev/x", "takes no target"},
		{"1=null:", "takes no target"},
		{"1=enttec-pro", "needs a device path"},
		{"1=enttec-pro:", "needs a device path"},
		{"1=open-dmx", "needs a device path"},
		{"1=open-dmx:", "needs a device path"},
		{"1=bad\ndriver", "unknown driver"},
		{"1=sacn:a\nb", "want HOST"},
		{"1\n=null", "universe"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			o, err := dmx.ParseOutput(tt.spec)
			if err == nil {
				t.Fatalf("ParseOutput(%q) = %+v, want an error", tt.spec, o)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.detail) {
				t.Errorf("error %q does not say %q", msg, tt.detail)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is not one line", msg)
			}
		})
	}
}

// TestNullDriver: the null device is /dev/null, open for writing.
func TestNullDriver(t *testing.T) {
	dev, err := dmx.Null{}.Open()
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fdOf(t, dev)))
	if err != nil || target != os.DevNull {
		t.Errorf("null device is %q (%v), want %s", target, err, os.DevNull)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
}

// fdOf returns dev's file descriptor, which every device has on Linux.
func fdOf(t *testing.T, dev dmx.Device) uintptr {
	t.Helper()
	f, ok := dev.(interface{ Fd() uintptr })
	if !ok {
		t.Fatalf("device %T has no file descriptor", dev)
	}
	return f.Fd()
}

// FuzzParseOutput feeds arbitrary --output values to ParseOutput (operator
// input, also read from DMXD_OUTPUT).
func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{"1=null", "2=sacn", "3=sacn:10.0.0.1,[::1]:99@7", "4=artnet:h@0", "2=enttec-pro:/dev/ttyUSB0", "3=open-dmx:/dev/ttyUSB1", "1=null:x", "0=null", "1=", "=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		o, err := dmx.ParseOutput(spec)
		if err != nil {
			if o != (dmx.Output{}) {
				t.Fatalf("error %v with output %+v", err, o)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		if o.Universe < 1 || o.Universe > 1<<15 {
			t.Fatalf("universe %d accepted", o.Universe)
		}
		switch o.Driver.Name() {
		case dmx.DriverNull:
			if o.Driver.Target() != "" {
				t.Fatalf("null with target %q", o.Driver.Target())
			}
		case dmx.DriverEnttecPro, dmx.DriverOpenDMX:
			if o.Driver.Target() == "" {
				t.Fatalf("%s without a target", o.Driver.Name())
			}
			if !strings.HasSuffix(spec, o.Driver.Target()) {
				t.Fatalf("target %q is not the end of %q", o.Driver.Target(), spec)
			}
		case dmx.DriverSACN, dmx.DriverArtNet:
			if o.Driver.Target() == "" || strings.ContainsAny(o.Driver.Target(), " \r\n") {
				t.Fatalf("%s with target %q", o.Driver.Name(), o.Driver.Target())
			}
		default:
			t.Fatalf("unknown driver %q accepted", o.Driver.Name())
		}
		if o.Driver.MinGap() <= 0 {
			t.Fatalf("min gap %v", o.Driver.MinGap())
		}
	})
}
