package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Per-day counters: one hash per shard, cadence and UTC day, kept for
// DailyStatsTTL, written in the same atomic commit as the enrollment
// change they count (Commit.Stats fields named "@FIELD"). They hold flows
// — sends, opens, clicks, replies, bounces, unsubscribes, enrollments,
// goals, endings — never gauges such as "now in stage", which only the
// cadence totals keep. A day's hash holds a few dozen small integers, so
// a cadence costs Shards × days × ~1 KB at most.

// DailyStatsTTL is how long a day's counters live: over a year, so a
// trend can compare with the same weeks last year.
const DailyStatsTTL = 400 * 24 * time.Hour

// MaxStatsDays is the longest range DailyStats reads in one call.
const MaxStatsDays = 400

// readDays returns HGETALL of each key (KEYS, all of one shard).
var readDays = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end
return out
`)

var dailyTTLSeconds = strconv.Itoa(int(DailyStatsTTL / time.Second))

// Day is one UTC day's counters of a cadence, summed over the shards.
type Day struct {
	// Date is the UTC day, YYYY-MM-DD.
	Date     string           `json:"date"`
	Counters map[string]int64 `json:"counters"`
}

// Midnight is the start of t's UTC day.
func Midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DailyStats returns a cadence's counters for every UTC day from from to
// to, both included, oldest first; a day with no activity has empty
// counters.
func (s *Store) DailyStats(ctx context.Context, cadenceID string, from, to time.Time) ([]Day, error) {
	from, to = Midnight(from), Midnight(to)
	if to.Before(from) {
		return nil, fmt.Errorf("daily stats: to %s is before from %s", to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	n := int(to.Sub(from).Hours()/24) + 1
	if n > MaxStatsDays {
		return nil, fmt.Errorf("daily stats: %d days asked, at most %d at once", n, MaxStatsDays)
	}
	// One script per shard reads all its day hashes (they share the
	// shard's hash tag): Shards calls whatever the range, not Shards × days.
	cmds := s.pipelineScript(ctx, readDays, Shards, func(sh int) ([]string, []any) {
		keys := make([]string, n)
		for d := range keys {
			keys[d] = s.keys.DailyStats(sh, cadenceID, from.AddDate(0, 0, d))
		}
		return keys, nil
	})
	days := make([]Day, n)
	for d := range days {
		days[d] = Day{Date: from.AddDate(0, 0, d).Format(time.DateOnly), Counters: map[string]int64{}}
	}
	for _, c := range cmds {
		per, err := c.Slice()
		if err != nil {
			return nil, err
		}
		for d, h := range per {
			if d >= n {
				break
			}
			kv, _ := h.([]any)
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				v, _ := kv[i+1].(string)
				x, _ := strconv.ParseInt(v, 10, 64)
				days[d].Counters[k] += x
			}
		}
	}
	return days, nil
}
