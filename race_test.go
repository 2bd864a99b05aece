//go:build race

package dlq

// raceEnabled is true under the race detector: .ci/run's race pass runs
// the load tests for their races, not for their figures, so the longest
// ones run shorter there.
const raceEnabled = true
