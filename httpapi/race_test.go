//go:build race

package httpapi_test

// raceEnabled is true under the race detector, whose memory and time
// overhead the load test's bounds do not allow for.
const raceEnabled = true
