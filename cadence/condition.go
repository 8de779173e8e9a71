package cadence

import (
	"fmt"
	"strings"
)

// CondKind is what a touch condition tests.
type CondKind string

const (
	CondHasPhone        CondKind = "has_phone"
	CondHasEmail        CondKind = "has_email"
	CondOpenedPrevious  CondKind = "opened_previous"
	CondClickedPrevious CondKind = "clicked_previous"
	CondAttr            CondKind = "attr"
)

// Condition gates a touch on the prospect or its engagement so far.
type Condition struct {
	Kind   CondKind
	Negate bool
	Attr   string
	Value  string
	Text   string
}

func (c Condition) String() string { return c.Text }

// ParseCondition reads has_phone, not_opened_previous, attr.plan=pro,
// attr.plan!=free and similar.
func ParseCondition(s string) (Condition, error) {
	c := Condition{Text: strings.TrimSpace(s)}
	body := c.Text
	if rest, ok := strings.CutPrefix(body, "attr."); ok {
		c.Kind = CondAttr
		name, value, found := strings.Cut(rest, "!=")
		if found {
			c.Negate = true
		} else if name, value, found = strings.Cut(rest, "="); !found {
			return c, fmt.Errorf("condition %q: expected attr.NAME=VALUE or attr.NAME!=VALUE", s)
		}
		c.Attr, c.Value = strings.TrimSpace(name), strings.TrimSpace(value)
		if c.Attr == "" {
			return c, fmt.Errorf("condition %q: attribute name is empty", s)
		}
		return c, nil
	}
	if rest, ok := strings.CutPrefix(body, "not_"); ok {
		c.Negate, body = true, rest
	}
	switch k := CondKind(body); k {
	case CondHasPhone, CondHasEmail, CondOpenedPrevious, CondClickedPrevious:
		c.Kind = k
		return c, nil
	}
	if hint := didYouMean(c.Text, conditionNames); hint != "" {
		return c, fmt.Errorf("unknown condition %q%s", s, hint)
	}
	return c, fmt.Errorf("unknown condition %q (expected has_phone, has_email, opened_previous, clicked_previous, each optionally with not_, or attr.NAME=VALUE / attr.NAME!=VALUE)", s)
}

// conditionNames are the conditions without arguments, for suggestions.
var conditionNames = func() []string {
	var out []string
	for _, k := range []CondKind{CondHasPhone, CondHasEmail, CondOpenedPrevious, CondClickedPrevious} {
		out = append(out, string(k), "not_"+string(k))
	}
	return out
}()

// holds evaluates the condition.
func (c Condition) holds(e *Enrollment, r *Recipient) bool {
	var v bool
	switch c.Kind {
	case CondHasPhone:
		v = r.Phone != ""
	case CondHasEmail:
		v = r.Email != ""
	case CondOpenedPrevious:
		v = e.PrevEmailOpened
	case CondClickedPrevious:
		v = e.PrevEmailClicked
	case CondAttr:
		v = r.Attr[c.Attr] == c.Value
	}
	return v != c.Negate
}
