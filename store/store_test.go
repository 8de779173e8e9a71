package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// slot returns the Redis Cluster hash slot of a key (CRC16 of the hash tag).
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for k := 0; k < 8; k++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// TestScriptKeysShareASlot checks the rule that keeps Redis Cluster
// possible: every key one script touches has the same hash slot.
func TestScriptKeysShareASlot(t *testing.T) {
	k := store.Keys{Prefix: "nurture"}
	pid := "prospect-42"
	eid := store.EnrollmentID(pid, "saas-trial")
	sh := store.Shard(pid)
	groups := map[string][]string{
		"commit": {k.Enrollment(eid), k.Due(sh, store.LaneEmail), k.Due(sh, store.LaneSMS), k.Lease(sh), k.Timeline(eid), k.Stats(sh, "saas-trial"), k.Sends(pid), k.Ledger(eid),
			k.ProspectMeta(pid), k.Consent(pid)},
		"consent": {k.ProspectMeta(pid), k.Consent(pid)},
		"claim":   {k.Due(sh, store.LaneSMS), k.Lease(sh)},
	}
	for name, keys := range groups {
		for _, key := range keys[1:] {
			if slot(key) != slot(keys[0]) {
				t.Errorf("%s: %s (slot %d) and %s (slot %d) differ", name, keys[0], slot(keys[0]), key, slot(key))
			}
		}
	}
	// Shards spread over the slot space.
	seen := map[uint16]bool{}
	for s := 0; s < store.Shards; s++ {
		seen[slot(k.Due(s, store.LaneEmail))] = true
	}
	if len(seen) != store.Shards {
		t.Errorf("%d shards map to only %d slots", store.Shards, len(seen))
	}
}

func TestProspectValidation(t *testing.T) {
	cases := map[string]struct {
		p    store.Prospect
		want string
	}{
		"no address":   {store.Prospect{ID: "a"}, "needs an email or a phone"},
		"bad email":    {store.Prospect{ID: "a", Email: "not-an-email"}, `email "not-an-email"`},
		"bad phone":    {store.Prospect{ID: "a", Phone: "12"}, "phone: invalid phone number"},
		"bad zone":     {store.Prospect{ID: "a", Email: "a@b.co", TimeZone: "Mars/Base"}, "unknown time zone"},
		"bad id":       {store.Prospect{ID: "a~b", Email: "a@b.co"}, `id "a~b"`},
		"empty id":     {store.Prospect{Email: "a@b.co"}, "id: required"},
		"display name": {store.Prospect{ID: "a", Email: "Ada <a@b.co>"}, "not a valid address"},
	}
	for name, tc := range cases {
		err := tc.p.Normalize("US")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	p := store.Prospect{ID: "a", Email: " Ada@Example.COM ", Phone: "(312) 555-0100", State: "fl"}
	if err := p.Normalize("US"); err != nil || p.Email != "ada@example.com" || p.Phone != "+13125550100" || p.State != "FL" {
		t.Fatalf("normalize: %+v %v", p, err)
	}
}

func TestEnrollmentRoundTripAndCAS(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	e := cadence.Enrollment{ID: "p1~c", ProspectID: "p1", CadenceID: "c", Version: "vabc", State: cadence.Active, FirstStage: "s1",
		Stage: "s1", Step: 1, Generation: 3, EnrolledAt: at, StageEnteredAt: at, DueAt: at.Add(time.Hour), Remaining: 90 * time.Second,
		PrevEmail: "t1", PrevEmailOpened: true, By: "sales:sam", Reason: "why"}
	if errs, _ := st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if errs, _ := st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}}); !errors.Is(errs[0], store.ErrAlreadyEnrolled) {
		t.Fatalf("second create: %v", errs[0])
	}
	l, err := st.Enrollment(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l.Enrollment != e || l.Rev != 1 {
		t.Fatalf("round trip:\n got %+v rev %d\nwant %+v", l.Enrollment, l.Rev, e)
	}
	// A stale revision is refused; the current one commits.
	if _, err := st.Commit(ctx, &store.Commit{Rev: 0, Enrollment: e}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	e.Step = 2
	if rev, err := st.Commit(ctx, &store.Commit{Rev: 1, Enrollment: e, Entries: []cadence.Entry{{At: at, Kind: "sent", Touch: "t2"}}}); err != nil || rev != 2 {
		t.Fatalf("commit: %d %v", rev, err)
	}
	tl, _ := st.Timeline(ctx, e.ID)
	if len(tl) != 2 || tl[0].Kind != "enrolled" || tl[0].ToStage != "s1" || tl[1].Touch != "t2" {
		t.Fatalf("timeline %+v", tl)
	}
	// The due set follows the state: paused without until leaves it.
	e.State, e.DueAt = cadence.Paused, time.Time{}
	if _, err := st.Commit(ctx, &store.Commit{Rev: 2, Enrollment: e}); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.ZScore(ctx, st.Keys().Due(store.Shard("p1"), store.LaneEmail), e.ID).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("paused enrollment still due: %v", err)
	}
}

func TestClaimLeaseExpiryReturnsWork(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	e := cadence.Enrollment{ID: "p2~c", ProspectID: "p2", CadenceID: "c", State: cadence.Active, Stage: "s", DueAt: now}
	st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}})
	sh := store.Shard("p2")
	ids, _ := st.Claim(ctx, sh, store.LaneEmail, now, time.Minute, 10)
	if len(ids) != 1 {
		t.Fatalf("claimed %v", ids)
	}
	if ids, _ := st.Claim(ctx, sh, store.LaneEmail, now.Add(30*time.Second), time.Minute, 10); len(ids) != 0 {
		t.Fatalf("claimed twice within the lease: %v", ids)
	}
	if ids, _ := st.Claim(ctx, sh, store.LaneEmail, now.Add(61*time.Second), time.Minute, 10); len(ids) != 1 {
		t.Fatalf("expired lease not returned: %v", ids)
	}
}

func TestLedgerOwnership(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	e := cadence.Enrollment{ID: "p3~c", ProspectID: "p3", CadenceID: "c", State: cadence.Active, Stage: "s"}
	st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}})
	f := store.LedgerField(&cadence.Enrollment{Stage: "s"})
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	mine := store.SendingValue(now.Add(time.Minute), "w1.1")
	res, err := st.StepLedger(ctx, []store.LedgerStep{
		{Begin: true, EID: e.ID, Field: f, Rev: 1, Value: mine},
		{Begin: true, EID: e.ID, Field: f, Rev: 1, Value: "sending:1:w2.1"},
		{Begin: true, EID: e.ID, Field: "other", Rev: 7, Value: mine},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != "OK" || res[1] != mine || res[2] != "CONFLICT" {
		t.Fatalf("results %v", res)
	}
	if kind, until := store.ParseLedger(res[1]); kind != store.LedgerSending || !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("parsed %q %v", kind, until)
	}
	ttl, _ := rdb.TTL(ctx, st.Keys().Ledger(e.ID)).Result()
	if ttl < 13*24*time.Hour {
		t.Fatalf("ledger TTL %v", ttl)
	}
	// Outcomes: accepted → "sent"; refused → removed, so a later attempt
	// may begin again.
	if _, err := st.StepLedger(ctx, []store.LedgerStep{{EID: e.ID, Field: f, Value: ""}}); err != nil {
		t.Fatal(err)
	}
	if res, _ := st.StepLedger(ctx, []store.LedgerStep{{Begin: true, EID: e.ID, Field: f, Rev: 1, Value: mine}}); res[0] != "OK" {
		t.Fatalf("a refused send could not be retried: %v", res)
	}
	if _, err := st.StepLedger(ctx, []store.LedgerStep{{EID: e.ID, Field: f, Value: store.LedgerSent}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Ledger(ctx, e.ID, f); v != store.LedgerSent {
		t.Fatalf("ledger %q", v)
	}
	// Failure bookkeeping on an emptied ledger keeps the TTL.
	st.ClearLedger(ctx, e.ID, f)
	if _, err := st.CountAttempt(ctx, e.ID, f); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := rdb.TTL(ctx, st.Keys().Ledger(e.ID)).Result(); ttl < 13*24*time.Hour {
		t.Fatalf("ledger TTL after an attempt count %v", ttl)
	}
}

func TestConsentIsLogged(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	p := &store.Prospect{ID: "p4", Phone: "+13125550100"}
	if err := st.UpsertProspect(ctx, p); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	st.SetConsent(ctx, "p4", store.ConsentChange{At: at, Channel: cadence.SMS, Blocked: "STOP", Source: "sms"})
	st.SetConsent(ctx, "p4", store.ConsentChange{At: at.Add(time.Hour), Channel: cadence.SMS, Source: "sms START"})
	got, _ := st.Prospect(ctx, "p4")
	log, _ := st.ConsentLog(ctx, "p4")
	if got.SMSBlocked != "" || len(log) != 2 || log[0].Blocked != "STOP" || log[1].Source != "sms START" {
		t.Fatalf("prospect %+v log %+v", got, log)
	}
	// A profile update never clears consent.
	st.SetConsent(ctx, "p4", store.ConsentChange{At: at, Channel: cadence.Email, Blocked: "unsubscribed", Source: "one-click"})
	p.FirstName = "Ada"
	st.UpsertProspect(ctx, p)
	if got, _ := st.Prospect(ctx, "p4"); got.EmailBlocked != "unsubscribed" || got.FirstName != "Ada" {
		t.Fatalf("upsert clobbered consent: %+v", got)
	}
	other := &store.Prospect{ID: "p5", Phone: "+13125550100"}
	if err := st.UpsertProspect(ctx, other); !errors.Is(err, store.ErrDuplicateAddress) {
		t.Fatalf("two prospects share a number: %v", err)
	}
}

// TestShardsSpreadOverClusterMasters runs against a Redis Cluster (the
// REDIS_CLUSTER_ADDRS one, else three masters it starts): enrollments of
// many prospects must land on more than one master, and every script must
// run without CROSSSLOT.
func TestShardsSpreadOverClusterMasters(t *testing.T) {
	cc, prefix := redistest.Cluster(t)
	rdb := redis.UniversalClient(cc)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	var batch []store.NewEnrollment
	for i := 0; i < 200; i++ {
		pid := fmt.Sprintf("p%03d", i)
		batch = append(batch, store.NewEnrollment{Enrollment: cadence.Enrollment{ID: store.EnrollmentID(pid, "c"), ProspectID: pid, CadenceID: "c", State: cadence.Active, Stage: "s", DueAt: now}})
	}
	errs, _ := st.CreateEnrollments(ctx, batch)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	perMaster := map[string]int{}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n := 0
		iter := node.Scan(ctx, 0, prefix+":{s*}:due:*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		perMaster[node.Options().Addr] = n
		mu.Unlock()
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	masters := 0
	for _, n := range perMaster {
		if n > 0 {
			masters++
		}
	}
	if masters < 2 {
		t.Fatalf("due sets on %d master(s): %v", masters, perMaster)
	}
	claimed, err := st.ClaimAll(ctx, now, time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, ids := range claimed {
		total += len(ids)
	}
	if total != 200 {
		t.Fatalf("claimed %d of 200 across the cluster", total)
	}
	t.Logf("due sets per master: %v", perMaster)

	// Journal Begins spread over every master, after one master lost its
	// script cache (a restart): each Begin runs exactly once and owns its
	// entry — re-running one that already ran would find its own entry.
	field := store.LedgerField(&cadence.Enrollment{Stage: "s"})
	begin := func(from, to int, value string) []string {
		var steps []store.LedgerStep
		for i := from; i < to; i++ {
			steps = append(steps, store.LedgerStep{Begin: true, EID: store.EnrollmentID(fmt.Sprintf("p%03d", i), "c"), Field: field, Rev: 1, Value: value})
		}
		res, err := st.StepLedger(ctx, steps)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	begin(0, 50, "sending:1:warm") // loads the script on every master
	flushed := false
	cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if !flushed {
			flushed = true
			return node.ScriptFlush(ctx).Err()
		}
		return nil
	})
	for i, r := range begin(50, 200, "sending:1:after-flush") {
		if r != "OK" {
			t.Fatalf("Begin %d after one master's SCRIPT FLUSH: %q, want OK", 50+i, r)
		}
	}
	// A commit with a consent change and coalescing timeline lines runs
	// on every master (its keys share the prospect's slot).
	var commits []*store.Commit
	for i := 0; i < 200; i += 7 {
		commits = append(commits, &store.Commit{Rev: 1, Enrollment: batch[i].Enrollment, Dedupe: true,
			Entries: []cadence.Entry{{At: now, Kind: "unsubscribed"}, {At: now, Kind: "opened", Touch: "t"}, {At: now, Kind: "opened", Touch: "t"}},
			Consent: &store.ConsentChange{At: now, Channel: cadence.Email, Blocked: "unsubscribed", Source: "cluster"}})
	}
	for i, err := range st.CommitBatch(ctx, commits) {
		if err != nil {
			t.Fatalf("commit %d on the cluster: %v", i, err)
		}
	}
	if lines, err := st.TimelineLines(ctx, batch[7].Enrollment.ID); err != nil || len(lines) != 3 || lines[2].Count != 2 {
		t.Fatalf("timeline on the cluster: %+v %v", lines, err)
	}
	if log, err := st.ConsentLog(ctx, "p007"); err != nil || len(log) != 1 {
		t.Fatalf("consent log on the cluster: %+v %v", log, err)
	}
}

// A prospect's send history feeds frequency caps: every send is there, per
// channel, with its time — including members written in the older format.
func TestSendHistory(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	for i, cid := range []string{"a", "b"} {
		e := cadence.Enrollment{ID: store.EnrollmentID("p9", cid), ProspectID: "p9", CadenceID: cid, State: cadence.Active, Stage: "s"}
		st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}})
		ch := []cadence.Channel{cadence.Email, cadence.SMS}[i]
		for rev, sent := range []time.Time{at, at.Add(time.Hour)} {
			if _, err := st.Commit(ctx, &store.Commit{Rev: int64(rev + 1), Enrollment: e, Sent: &sent, Channel: ch}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Two cadences sending in the same millisecond are two sends.
	e := cadence.Enrollment{ID: store.EnrollmentID("p9", "c"), ProspectID: "p9", CadenceID: "c", State: cadence.Active, Stage: "s"}
	st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}})
	if _, err := st.Commit(ctx, &store.Commit{Rev: 1, Enrollment: e, Sent: &at, Channel: cadence.Email}); err != nil {
		t.Fatal(err)
	}
	// A member from before the compact format.
	old := at.Add(-time.Hour)
	rdb.ZAdd(ctx, st.Keys().Sends("p9"), redis.Z{Score: float64(old.UnixMilli()), Member: "sms:p9~old:" + strconv.FormatInt(old.UnixMilli(), 10)})
	h, err := st.RecentSends(ctx, "p9", at.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Email) != 3 || len(h.SMS) != 3 || !h.SMS[0].Equal(old) || !h.Email[2].Equal(at.Add(time.Hour)) {
		t.Fatalf("history %+v", h)
	}
}

// An enrollment's prospect and cadence are not stored twice when its id
// already names them, and read back the same either way.
func TestEnrollmentRecordRoundTrip(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	for _, e := range []cadence.Enrollment{
		{ID: store.EnrollmentID("ada@example.com", "saas-trial"), ProspectID: "ada@example.com", CadenceID: "saas-trial"},
		{ID: store.EnrollmentID("p~1", "c"), ProspectID: "p~1", CadenceID: "c"},
		{ID: "p7~legacy", ProspectID: "p7", CadenceID: "other"},
	} {
		e.State, e.Stage, e.Step, e.DueAt, e.NextTouch, e.StageDone = cadence.Active, "s", 2, at, "t3", "t1,t2"
		if _, err := st.CreateEnrollments(ctx, []store.NewEnrollment{{Enrollment: e}}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Enrollment(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g := got.Enrollment; g.ProspectID != e.ProspectID || g.CadenceID != e.CadenceID || g.Step != 2 || !g.DueAt.Equal(at) || g.NextTouch != "t3" || g.StageDone != "t1,t2" {
			t.Fatalf("%s read back as %+v", e.ID, g)
		}
	}
}
