// Package testkit holds the real parts dmxd's end-to-end tests, chaos
// harness and benchmarks are made of: a pseudo-terminal whose master side
// decodes the frames dmxd writes to the slave, a dmxd process built from
// this module, and a WebSocket desk client.
//
// Concurrency: a PTY's frames are decoded by one goroutine and handed out
// through channels; a Process and a Desk are safe for concurrent use where
// their doc comments say so.
package testkit
