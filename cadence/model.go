package cadence

import (
	"hash/fnv"
	"time"

	"github.com/nurture-dev/nurture/templates"
)

// Channel is a sending channel.
type Channel string

const (
	Email Channel = "email"
	SMS   Channel = "sms"
)

// Cadence is a loaded, validated definition. It is immutable once loaded.
type Cadence struct {
	ID          string
	Name        string
	Description string
	// Version is derived from the definition's content: editing a touch
	// changes it, reformatting the file does not.
	Version       string
	File          string
	Zone          *time.Location
	From          FromSpec
	PostalAddress string
	Window        Window
	Holidays      Holidays
	// SMSQuiet is the allowed band for marketing SMS (legal default
	// narrowed by the cadence, if it says so).
	SMSQuiet         Window
	Caps             map[Channel]Cap
	Reply            ReplyPolicy
	Exits            []ExitRule
	Stages           []*Stage
	Templates        map[string]*templates.Template
	stageIndex       map[string]int
	touchIndex       map[string]*Touch
	hasSMSTouches    bool
	definedTemplates map[string]bool
	templateNames    []string // sorted
}

// Stage is a journey stage.
type Stage struct {
	ID      string
	Name    string
	Index   int
	Touches []*Touch
	Advance []AdvanceRule
	// Then is where the prospect goes when the touches are done: a stage
	// id, or ThenComplete / ThenExit.
	Then string
	// NoEngagement is the no_engagement rule, if any.
	NoEngagement *AdvanceRule
}

const (
	ThenNext     = "next"
	ThenComplete = "complete"
	ThenExit     = "exit"
)

// Touch is one timed message.
type Touch struct {
	ID         string
	Stage      *Stage
	Index      int
	Channel    Channel
	Delay      Delay
	FromEntry  bool
	Variants   []Variant
	Conditions []Condition
	// Window replaces the cadence window when set.
	Window *Window
	// Thread sends an email as a reply to the previous one.
	Thread bool
	Pos    Pos
}

// Variant is an A/B variant of a touch.
type Variant struct {
	ID       string
	Template string
	Weight   int
}

// Trigger names what fires an advance rule.
type Trigger string

const (
	OnClick        Trigger = "click"
	OnHumanOpen    Trigger = "human_open"
	OnReply        Trigger = "reply"
	OnGoal         Trigger = "goal"
	OnNoEngagement Trigger = "no_engagement"
)

// AdvanceRule moves a prospect to another stage (or completes / exits).
type AdvanceRule struct {
	On    Trigger
	After Delay
	Goal  string
	To    string
}

// ReplyAction is what a human reply does.
type ReplyAction string

const (
	ReplyWarm    ReplyAction = "warm"
	ReplyAdvance ReplyAction = "advance"
	ReplyExit    ReplyAction = "exit"
	ReplyIgnore  ReplyAction = "ignore"
)

// ReplyPolicy is the cadence's reply policy.
type ReplyPolicy struct {
	Action          ReplyAction
	To              string
	AutoReplySnooze Delay
	// The resolved per-class policies, defaults filled in. An opt-out
	// request has none: it always unsubscribes (COMPLIANCE.md 22).
	OutOfOffice      ClassPolicy
	AutoReply        ClassPolicy
	BounceInDisguise ClassPolicy
	NotNow           ClassPolicy
	WrongPerson      ClassPolicy
}

// ClassAction is what a classified reply does.
type ClassAction string

const (
	// ClassSnooze snoozes for ClassPolicy.Snooze.
	ClassSnooze ClassAction = "snooze"
	// ClassSnoozeUntilReturn and ClassSnoozeUntilDate snooze until the
	// send window opens on the day the reply names, else for
	// ClassPolicy.Snooze; when that is zero too (not_now by default), the
	// reply is treated as a reply.
	ClassSnoozeUntilReturn ClassAction = "snooze_until_return"
	ClassSnoozeUntilDate   ClassAction = "snooze_until_date"
	// ClassIgnore records the reply on the timeline only.
	ClassIgnore ClassAction = "ignore"
	// ClassWarm treats it as a reply: the cadence's reply action applies.
	ClassWarm ClassAction = "warm"
	// ClassPause pauses the enrollment for a person to look at.
	ClassPause ClassAction = "pause"
	// ClassExit ends the enrollment.
	ClassExit ClassAction = "exit"
)

// ClassPolicy is what one class of reply does.
type ClassPolicy struct {
	Action ClassAction
	// Snooze is the snooze for ClassSnooze, or the fallback for the
	// snooze_until actions (zero: none).
	Snooze Delay
}

// ExitRule ends the cadence on an event.
type ExitRule struct {
	On   string
	Goal string
}

// Cap is a frequency cap: at most Max per rolling Per.
type Cap struct {
	Max int
	Per time.Duration
}

// Stage returns the stage with the given id, or nil.
func (c *Cadence) Stage(id string) *Stage {
	if i, ok := c.stageIndex[id]; ok {
		return c.Stages[i]
	}
	return nil
}

// Touch returns the touch with the given id, or nil.
func (c *Cadence) Touch(id string) *Touch { return c.touchIndex[id] }

// TouchAt returns the touch at (stage, step), or nil when step is past the
// stage's touches.
func (c *Cadence) TouchAt(stage string, step int) *Touch {
	s := c.Stage(stage)
	if s == nil || step < 0 || step >= len(s.Touches) {
		return nil
	}
	return s.Touches[step]
}

// HasSMS reports whether any touch is an SMS.
func (c *Cadence) HasSMS() bool { return c.hasSMSTouches }

// exitsOn reports whether a cadence-wide exit rule matches.
func (c *Cadence) exitsOn(on, goal string) bool {
	for _, r := range c.Exits {
		if r.On == on && (r.Goal == "" || r.Goal == goal) {
			return true
		}
	}
	return false
}

// WindowFor returns the send window of a touch.
func (c *Cadence) WindowFor(t *Touch) Window {
	if t.Window != nil {
		return *t.Window
	}
	return c.Window
}

// ChooseVariant picks a variant for an enrollment deterministically by
// weight, so a retried send always renders the same variant.
func (t *Touch) ChooseVariant(enrollmentID string) Variant {
	if len(t.Variants) == 1 {
		return t.Variants[0]
	}
	total := 0
	for _, v := range t.Variants {
		total += v.Weight
	}
	h := fnv.New32a()
	h.Write([]byte(enrollmentID))
	h.Write([]byte{0})
	h.Write([]byte(t.ID))
	pick := int(h.Sum32() % uint32(total))
	for _, v := range t.Variants {
		if pick < v.Weight {
			return v
		}
		pick -= v.Weight
	}
	return t.Variants[len(t.Variants)-1]
}
