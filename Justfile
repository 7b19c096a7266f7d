# dmxd — DMX512 lighting server. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "bin/dmxd"

# List the recipes.
default:
    @just --list

# Build dmxd into bin/.
build:
    go build -o {{bin}} ./cmd/dmxd

# dmxd prints the desk's and the WebSocket's URLs itself, from the address
# it really listens on (on a terminal; --log-format json logs them as fields).

# Build and start dmxd on the null output (flags pass through: --listen :9000).
run *ARGS: build
    ./{{bin}} {{ARGS}}

# One package at a time, so that the timing tests do not starve each other.

# The whole test suite with the race detector (what CI runs).
test: lint
    go test -race -count=1 -p 1 -timeout 15m ./...

# Targets: linux amd64/arm64/arm (v7), darwin arm64, windows amd64; static, without cgo (the Go refresh loop).

# Cross-build every release target into dist/ with SHA256SUMS.
release:
    #!/usr/bin/env bash
    set -euo pipefail
    version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
    rm -rf dist && mkdir dist
    for target in linux/amd64 linux/arm64 linux/arm darwin/arm64 windows/amd64; do
        os=${target%/*} arch=${target#*/}
        out=dist/dmxd-$os-$arch
        [ "$os" = windows ] && out=$out.exe
        echo "$out"
        CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=7 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/dmxd
    done
    cd dist
    if command -v sha256sum >/dev/null; then sha256sum dmxd-* > SHA256SUMS; else shasum -a 256 dmxd-* > SHA256SUMS; fi
    cat SHA256SUMS

# FUZZTIME is a count, not a duration: Go 1.26's coordinator can fail a
# duration run that found nothing (golang/go#75804). Crashers land in
# testdata/fuzz and become regular test cases.

# Run every fuzz target for a number of inputs (FUZZTIME=1000000x just fuzz).
fuzz:
    go test -run='^$' -fuzz='^FuzzDecodeCommand$' -fuzztime=${FUZZTIME:-100000x} ./transport
    go test -run='^$' -fuzz='^FuzzFastDecoderAgrees$' -fuzztime=${FUZZTIME:-100000x} ./transport
    go test -run='^$' -fuzz='^FuzzParseOutput$' -fuzztime=${FUZZTIME:-100000x} ./dmx
    go test -run='^$' -fuzz='^FuzzParseConfig$' -fuzztime=${FUZZTIME:-100000x} ./cmd/dmxd
    go test -run='^$' -fuzz='^FuzzDecodeSACN$' -fuzztime=${FUZZTIME:-100000x} ./dmx/sacn
    go test -run='^$' -fuzz='^FuzzDecodeArtNet$' -fuzztime=${FUZZTIME:-100000x} ./dmx/artnet
    go test -run='^$' -fuzz='^FuzzWireDeserialize$' -fuzztime=${FUZZTIME:-100000x} ./actors

# Needs Debian's protobuf-compiler and protoc-gen-go v1.33.0 (go install
# google.golang.org/protobuf/cmd/protoc-gen-go@v1.33.0); the generated code is committed.

# Regenerate the protobuf code of the messages between processes (actors/*.pb.go).
proto:
    protoc --go_out=. --go_opt=paths=source_relative actors/*.proto

# gofmt check and go vet.
lint:
    @test -z "$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
    go vet ./...

# Flags: -runs N, -quick, -only latency,throughput,flood,fanout,memory,sacn,cluster (any of them), -out FILE.

# Benchmark a real dmxd (WebSocket desks, pty outputs) into a table and bench.json.
bench *ARGS:
    go run ./test/bench {{ARGS}}

# Go micro-benchmarks with allocations (decoder, encoder, merge, frames).
bench-micro:
    go test -run='^$' -bench=. -benchmem ./...

# 5,000 misbehaving desks for 60 s, a flood, a replug and a restart; flags
# pass through: just chaos -conns 300 -duration 10s -seed 7.

# Chaos run against the built dmxd (5,000 desks, 60 s).
chaos *ARGS: build
    go run ./test/chaos -bin {{bin}} {{ARGS}}

# Chaos across processes: a core, two output nodes (ptys) and two edges with desks; kill -9
# and restart a node, an edge and the core in turn. Flags pass through:
# just chaos-cluster -duration 60s -desks 50 -seed 1.
chaos-cluster *ARGS: build
    go run ./test/chaoscluster -bin {{bin}} {{ARGS}}

# How late this machine wakes a SCHED_FIFO and a nice -10 thread and hands
# pty bytes over, beside `just chaos` in another shell (root for the priorities).

# Probe this machine's wake-up and pty latency for SECONDS (needs root).
rtprobe SECONDS="100":
    mkdir -p bin && gcc -O2 -Wall -o bin/rtprobe test/rtprobe/rtprobe.c -lutil -lpthread
    bin/rtprobe wake fifo {{SECONDS}} & bin/rtprobe wake nice {{SECONDS}} & bin/rtprobe pty {{SECONDS}} & wait
