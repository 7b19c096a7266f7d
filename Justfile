# dmxd — DMX512 lighting server. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "bin/dmxd"

# List the recipes.
default:
    @just --list

# Build dmxd into bin/.
build:
    go build -o {{bin}} ./cmd/dmxd

# Build and start dmxd on the hardware-free null output (extra flags pass through: just run --universes 4).
run *ARGS: build
    @echo "dmxd: web desk at http://127.0.0.1:8080/ (with --token SECRET: http://127.0.0.1:8080/?token=SECRET); WebSocket ws://127.0.0.1:8080/ws (Ctrl-C stops)"
    ./{{bin}} --listen 127.0.0.1:8080 {{ARGS}}

# The whole test suite with the race detector (what CI runs), one package at a time so that the timing tests do not starve each other.
test: lint
    go test -race -count=1 -p 1 -timeout 15m ./...

# Cross-build dmxd for linux amd64/arm64/arm (v7), macOS arm64 and Windows amd64 into dist/ with SHA256SUMS (static, without cgo: the Go refresh loop).
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

# Run every fuzz target for a number of inputs (FUZZTIME=1000000x just fuzz for longer; a count, not a duration: Go 1.26's coordinator can fail a duration run that found nothing, golang/go#75804); crashers land in testdata/fuzz and become regular test cases.
fuzz:
    go test -run='^$' -fuzz='^FuzzDecodeCommand$' -fuzztime=${FUZZTIME:-100000x} ./transport
    go test -run='^$' -fuzz='^FuzzFastDecoderAgrees$' -fuzztime=${FUZZTIME:-100000x} ./transport
    go test -run='^$' -fuzz='^FuzzParseOutput$' -fuzztime=${FUZZTIME:-100000x} ./dmx
    go test -run='^$' -fuzz='^FuzzParseConfig$' -fuzztime=${FUZZTIME:-100000x} ./cmd/dmxd

# gofmt check and go vet.
lint:
    @test -z "$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
    go vet ./...

# Benchmark a real dmxd (WebSocket desks, pty outputs): prints a table, writes bench.json (flags: -runs N, -quick, -only latency|throughput|flood|fanout|memory, -out FILE).
bench *ARGS:
    go run ./test/bench {{ARGS}}

# Go micro-benchmarks with allocations (decoder, encoder, merge, frame path).
bench-micro:
    go test -run='^$' -bench=. -benchmem ./...

# Chaos run against the built dmxd: 5,000 misbehaving desks for 60 s, a flood, a replug and a restart (flags pass through: just chaos -conns 300 -duration 10s -seed 7).
chaos *ARGS: build
    go run ./test/chaos -bin {{bin}} {{ARGS}}

# Probe how late this machine wakes a SCHED_FIFO and a nice -10 thread and hands pty bytes over, beside `just chaos` in another shell (needs root for the priorities): just rtprobe 100
rtprobe SECONDS="100":
    mkdir -p bin && gcc -O2 -Wall -o bin/rtprobe test/rtprobe/rtprobe.c -lutil -lpthread
    bin/rtprobe wake fifo {{SECONDS}} & bin/rtprobe wake nice {{SECONDS}} & bin/rtprobe pty {{SECONDS}} & wait
