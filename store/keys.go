package store

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Shards is the fixed number of enrollment shards. Each is one hash tag,
// so on Redis Cluster the shards spread over the masters. Changing it
// re-homes every key: it is fixed for a deployment's life.
const Shards = 16

// Keys builds key names under a prefix (one per deployment or test).
type Keys struct {
	Prefix string
}

// Shard returns the shard of a prospect.
func Shard(prospectID string) int {
	h := fnv.New32a()
	h.Write([]byte(prospectID))
	return int(h.Sum32() % Shards)
}

func (k Keys) tag(shard int) string { return fmt.Sprintf("%s:{s%02d}", k.Prefix, shard) }

// Lane splits due work by channel so a slow or rate-limited provider
// never delays the other: each lane has its own due sets and asynq queue.
// Timers (stage ends, pause and snooze ends) ride the email lane.
type Lane string

const (
	LaneEmail Lane = "email"
	LaneSMS   Lane = "sms"
)

// Lanes lists every lane.
var Lanes = []Lane{LaneEmail, LaneSMS}

// Due is a shard's sorted set, for one lane, of enrollment ids by due
// time (ms).
func (k Keys) Due(shard int, lane Lane) string { return k.tag(shard) + ":due:" + string(lane) }

// Lease is a shard's sorted set of claimed enrollment ids by lease expiry.
func (k Keys) Lease(shard int) string { return k.tag(shard) + ":lease" }

// Prospect is a prospect's profile: a string holding JSON.
func (k Keys) Prospect(pid string) string { return k.tag(Shard(pid)) + ":p:" + pid }

// ProspectMeta is a prospect's small hash of consent: eb / sb (email / SMS
// block reasons). It exists only once consent changed; values stay short
// so Redis keeps it in the compact listpack encoding.
func (k Keys) ProspectMeta(pid string) string { return k.Prospect(pid) + ":m" }

// Sends is a prospect's sorted set of recent sends (for frequency caps).
func (k Keys) Sends(pid string) string { return k.Prospect(pid) + ":sends" }

// Consent is a prospect's list of consent changes (opt-out, opt-in,
// suppression) with time and source, kept forever; a change to the value a
// channel already has is not one (consent.go).
func (k Keys) Consent(pid string) string { return k.Prospect(pid) + ":consent" }

// Enrollment is an enrollment: a string "REV\nJSON". The revision prefix
// lets scripts compare-and-set without decoding JSON.
func (k Keys) Enrollment(eid string) string { return k.tag(shardOfEnrollment(eid)) + ":e:" + eid }

// Ledger is an enrollment's send ledger: one field per claimed touch,
// l:STAGE:STEP:GEN, and retry counters a:l:.... It exists only around
// sends and expires LedgerTTL after the last one.
func (k Keys) Ledger(eid string) string { return k.Enrollment(eid) + ":l" }

// Timeline is an enrollment's list of timeline lines: repeated engagement
// lines coalesced, engagement lines dropped before audit lines, bounded by
// TimelineMaxLines (timeline.go).
func (k Keys) Timeline(eid string) string { return k.Enrollment(eid) + ":t" }

// Stats is a shard's per-cadence counters; Stats() sums the shards.
func (k Keys) Stats(shard int, cadenceID string) string { return k.tag(shard) + ":stats:" + cadenceID }

// DailyStats is a shard's per-cadence counters of one UTC day (daily.go).
func (k Keys) DailyStats(shard int, cadenceID string, day time.Time) string {
	return k.tag(shard) + ":day:" + cadenceID + ":" + day.UTC().Format("20060102")
}

// EmailIndex maps a lowercased email address to a prospect id.
func (k Keys) EmailIndex() string { return k.Prefix + ":{idx}:email" }

// PhoneIndex maps an E.164 number to a prospect id.
func (k Keys) PhoneIndex() string { return k.Prefix + ":{idx}:phone" }

// MessageIndex maps Message-IDs sent by earlier versions to an enrollment
// and touch; signed Message-IDs name theirs, so it is only read.
func (k Keys) MessageIndex() string { return k.Prefix + ":{idx}:msgid" }

// OwnerIndex is the set of enrollment ids whose prospect a rep owns.
func (k Keys) OwnerIndex(owner string) string { return k.Prefix + ":{idx}:owner:" + owner }

// CadenceIndex is the set of a cadence's enrollment ids.
func (k Keys) CadenceIndex(cadenceID string) string { return k.Prefix + ":{idx}:cadence:" + cadenceID }

// UncertainIndex lists a cadence's uncertain touches by when they were
// found, for operators to reconcile with the provider's logs.
func (k Keys) UncertainIndex(cadenceID string) string {
	return k.Prefix + ":{idx}:uncertain:" + cadenceID
}

// WarmIndex orders warm enrollments by when they turned warm.
func (k Keys) WarmIndex() string { return k.Prefix + ":{idx}:warm" }

// DomainPause marks a sending domain paused after a sender-side refusal.
func (k Keys) DomainPause(domain string) string { return k.Prefix + ":{idx}:domain-paused:" + domain }

// EnrollmentID is deterministic: one enrollment per prospect and cadence.
func EnrollmentID(prospectID, cadenceID string) string { return prospectID + "~" + cadenceID }

// ProspectOf returns the prospect id of an enrollment id.
func ProspectOf(eid string) string {
	for i := len(eid) - 1; i >= 0; i-- {
		if eid[i] == '~' {
			return eid[:i]
		}
	}
	return eid
}

func shardOfEnrollment(eid string) int { return Shard(ProspectOf(eid)) }
