package dlq

import "fmt"

// errorf wraps a sentinel error with a formatted detail:
// "dlq: item not found: <detail>".
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// opError wraps an error from Redis or the context with the operation and
// kind it happened in, e.g. "dlq: push scrape: context canceled".
func opError(op string, k Kind, err error) error {
	return fmt.Errorf("dlq: %s %s: %w", op, k, err)
}
