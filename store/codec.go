package store

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// Records are compact JSON with short keys and millisecond times: the
// enrollment blob is the largest per-enrollment cost in Redis.

type enrollmentRecord struct {
	ID         string `json:"id"`
	ProspectID string `json:"p,omitempty"` // omitted when the id says it
	CadenceID  string `json:"c,omitempty"` // omitted when the id says it
	Version    string `json:"v"`
	State      string `json:"s"`
	Stage      string `json:"st"`
	FirstStage string `json:"fs,omitempty"`
	Step       int    `json:"n,omitempty"`
	Generation int64  `json:"g,omitempty"`
	Enrolled   int64  `json:"ea,omitempty"`
	StageAt    int64  `json:"sa,omitempty"`
	LastTouch  int64  `json:"lt,omitempty"`
	Due        int64  `json:"d,omitempty"`
	Remaining  int64  `json:"rm,omitempty"`
	Until      int64  `json:"u,omitempty"`
	By         string `json:"by,omitempty"`
	Reason     string `json:"why,omitempty"`
	Engaged    bool   `json:"en,omitempty"`
	LastEngage int64  `json:"le,omitempty"`
	PrevEmail  string `json:"pe,omitempty"`
	PrevOpen   bool   `json:"po,omitempty"`
	PrevClick  bool   `json:"pc,omitempty"`
	PrevMsgID  string `json:"pm,omitempty"`
	Mailbox    string `json:"mb,omitempty"`
	NextTouch  string `json:"nt,omitempty"`
	StageDone  string `json:"sd,omitempty"`
	Opened     string `json:"op,omitempty"`
	Clicked    string `json:"ck,omitempty"`
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func encodeEnrollment(e *cadence.Enrollment) string {
	pid, cid := e.ProspectID, e.CadenceID
	if EnrollmentID(pid, cid) == e.ID {
		pid, cid = "", "" // the id carries them
	}
	b, _ := json.Marshal(enrollmentRecord{
		FirstStage: e.FirstStage, ID: e.ID, ProspectID: pid, CadenceID: cid, Version: e.Version, State: string(e.State),
		Stage: e.Stage, Step: e.Step, Generation: e.Generation, Enrolled: ms(e.EnrolledAt), StageAt: ms(e.StageEnteredAt),
		LastTouch: ms(e.LastTouchAt), Due: ms(e.DueAt), Remaining: e.Remaining.Milliseconds(), Until: ms(e.Until),
		By: e.By, Reason: e.Reason, Engaged: e.StageEngaged, LastEngage: ms(e.LastEngagedAt),
		PrevEmail: e.PrevEmail, PrevOpen: e.PrevEmailOpened, PrevClick: e.PrevEmailClicked, PrevMsgID: e.PrevMessageID, Mailbox: e.Mailbox,
		NextTouch: e.NextTouch, StageDone: e.StageDone, Opened: e.Opened, Clicked: e.Clicked,
	})
	return string(b)
}

func decodeEnrollment(s string) (cadence.Enrollment, error) {
	var r enrollmentRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return cadence.Enrollment{}, err
	}
	if r.ProspectID == "" && r.CadenceID == "" && strings.Contains(r.ID, "~") {
		r.ProspectID = ProspectOf(r.ID)
		r.CadenceID = strings.TrimPrefix(r.ID[len(r.ProspectID):], "~")
	}
	return cadence.Enrollment{
		FirstStage: r.FirstStage, ID: r.ID, ProspectID: r.ProspectID, CadenceID: r.CadenceID, Version: r.Version, State: cadence.State(r.State),
		Stage: r.Stage, Step: r.Step, Generation: r.Generation, EnrolledAt: fromMS(r.Enrolled), StageEnteredAt: fromMS(r.StageAt),
		LastTouchAt: fromMS(r.LastTouch), DueAt: fromMS(r.Due), Remaining: time.Duration(r.Remaining) * time.Millisecond,
		Until: fromMS(r.Until), By: r.By, Reason: r.Reason, StageEngaged: r.Engaged, LastEngagedAt: fromMS(r.LastEngage),
		PrevEmail: r.PrevEmail, PrevEmailOpened: r.PrevOpen, PrevEmailClicked: r.PrevClick, PrevMessageID: r.PrevMsgID, Mailbox: r.Mailbox,
		NextTouch: r.NextTouch, StageDone: r.StageDone, Opened: r.Opened, Clicked: r.Clicked,
	}, nil
}

// entryRecord is one timeline line. At comes first and Until, Count and
// Last last: the timeline scripts (timeline.go) read the kind and compare
// lines without those fields by plain string matching.
type entryRecord struct {
	At      int64  `json:"at"`
	Kind    string `json:"k"`
	Touch   string `json:"t,omitempty"`
	Channel string `json:"ch,omitempty"`
	From    string `json:"f,omitempty"`
	To      string `json:"to,omitempty"`
	Stage   string `json:"s,omitempty"`
	ToStage string `json:"ts,omitempty"`
	By      string `json:"by,omitempty"`
	Reason  string `json:"r,omitempty"`
	Until   int64  `json:"u,omitempty"`
	// Count and Last are set by the scripts when identical engagement
	// lines are coalesced: how many there were, and the newest one's time
	// (At stays the oldest's).
	Count int64 `json:"n,omitempty"`
	Last  int64 `json:"l,omitempty"`
}

func encodeEntry(en *cadence.Entry) string {
	r := entryRecord{At: ms(en.At), Kind: en.Kind, Touch: en.Touch, Channel: string(en.Channel), Stage: en.Stage,
		ToStage: en.ToStage, By: en.By, Reason: en.Reason, Until: ms(en.Until)}
	if en.From != en.To {
		r.From, r.To = string(en.From), string(en.To)
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func decodeLine(s string) (TimelineLine, error) {
	var r entryRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return TimelineLine{}, err
	}
	l := TimelineLine{Entry: cadence.Entry{At: fromMS(r.At), Kind: r.Kind, Touch: r.Touch, Channel: cadence.Channel(r.Channel),
		From: cadence.State(r.From), To: cadence.State(r.To), Stage: r.Stage, ToStage: r.ToStage, By: r.By,
		Reason: r.Reason, Until: fromMS(r.Until)}, Count: max(1, int(r.Count)), Last: fromMS(r.Last)}
	if l.Last.IsZero() {
		l.Last = l.Entry.At
	}
	return l, nil
}
