package dlq

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
)

// ErrInvalidWindow means a history window that is not positive or is
// longer than [MaxHistoryWindow].
var ErrInvalidWindow = errors.New("dlq: invalid history window")

// History windows. See [Service.History].
const (
	// MaxMinuteWindow is the longest window [Service.History] answers
	// in minute buckets; longer windows get hour buckets.
	MaxMinuteWindow = rdb.HistoryMinutes * time.Minute
	// MaxHistoryWindow is the longest window kept: 30 days of hours.
	MaxHistoryWindow = rdb.HistoryHours * time.Hour
)

// Bucket is the number of failures pushed in one minute or hour.
type Bucket struct {
	// Start is the bucket's first instant, in UTC; the bucket lasts until
	// the next one's Start.
	Start time.Time `json:"start"`
	// Count is the number of failures this library pushed in the bucket.
	Count int64 `json:"count"`
}

// History returns the failures of a kind pushed in the last window, per
// minute for windows up to [MaxMinuteWindow] (24 hours) and per hour
// for longer ones, up to [MaxHistoryWindow] (30 days). The buckets are
// oldest first and continuous, empty ones included, ending with the one
// that holds now (which is still filling); a window that is not a whole
// number of buckets is rounded up. So a 24h window is 1440 minute buckets,
// a 7-day one 168 hour buckets.
//
// The counts are those of [Service.Push]: every push adds to its minute
// and its hour in the same round trip as the entry. Entries pushed by
// other programs (such as the Python service sharing the list) are not
// counted, and removing entries (pops, retries, evictions) does not
// subtract them. The janitor ([Service.Sweep]) drops buckets older than
// the windows kept, so at steady state the hash holds 1440 + 720 fields,
// about 137 kB of Redis memory per kind (MEMORY USAGE on Redis 7.0); until
// the janitor runs, it grows by one field per minute with a push.
//
// History reads the kind's history hash with one HGETALL. A window that
// is not positive or is longer than MaxHistoryWindow returns an error
// wrapping [ErrInvalidWindow]; fields not named as Push names them, and
// counts that are not numbers or are negative (another program's writes),
// are skipped.
func (s *Service) History(ctx context.Context, kind Kind, window time.Duration) ([]Bucket, error) {
	if err := s.check(kind); err != nil {
		return nil, err
	}
	if window <= 0 || window > MaxHistoryWindow {
		return nil, errorf(ErrInvalidWindow, "%s is not between 0 and %s", window, MaxHistoryWindow)
	}
	prefix, step := byte('m'), time.Minute
	if window > MaxMinuteWindow {
		prefix, step = 'h', time.Hour
	}
	n := int64((window + step - 1) / step)
	stepSec := int64(step / time.Second)
	last := s.now().Unix() / stepSec // the bucket holding now
	first := last - n + 1

	fields, err := rdb.History(ctx, s.rdb, kind.keys())
	if err != nil {
		return nil, opError("history", kind, err)
	}
	out := make([]Bucket, n)
	for i := range out {
		out[i].Start = time.Unix((first+int64(i))*stepSec, 0).UTC()
	}
	for f, v := range fields {
		if len(f) < 2 || f[0] != prefix {
			continue
		}
		b, err := strconv.ParseInt(f[1:], 10, 64)
		if err != nil || b < first || b > last || strconv.FormatInt(b, 10) != f[1:] {
			continue // not a bucket of the window, or not as Push writes one ("m+1", "m01")
		}
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil || c < 0 {
			continue
		}
		out[b-first].Count = c // one field per bucket: canonical names are unique
	}
	return out, nil
}
