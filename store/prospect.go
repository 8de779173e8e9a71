package store

import (
	"net/mail"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/templates"
)

// Prospect is a person a cadence sends to.
type Prospect struct {
	ID        string            `json:"id"`
	Email     string            `json:"email,omitempty"`
	Phone     string            `json:"phone,omitempty"`
	FirstName string            `json:"first_name,omitempty"`
	LastName  string            `json:"last_name,omitempty"`
	Company   string            `json:"company,omitempty"`
	Title     string            `json:"title,omitempty"`
	City      string            `json:"city,omitempty"`
	State     string            `json:"state,omitempty"`
	Country   string            `json:"country,omitempty"`
	TimeZone  string            `json:"timezone,omitempty"`
	Owner     string            `json:"owner,omitempty"`
	Attr      map[string]string `json:"attr,omitempty"`

	// Consent, kept in their own fields so updates never race with a
	// profile edit. Empty means allowed.
	EmailBlocked string `json:"email_blocked,omitempty"`
	SMSBlocked   string `json:"sms_blocked,omitempty"`
}

// LogValue keeps addresses and numbers out of logs.
func (p Prospect) String() string { return "prospect " + p.ID }

// Normalize validates and canonicalizes the prospect: lowercased email,
// E.164 phone (COMPLIANCE.md 10), a known time zone. defaultRegion reads
// numbers written without a country code. Every field is bounded (see
// limits.go); text is valid UTF-8 without control characters (attribute
// values may hold tabs and line breaks). A refused prospect gets a
// *FieldError.
func (p *Prospect) Normalize(defaultRegion string) error {
	p.ID = strings.TrimSpace(p.ID)
	if err := checkID(p.ID); err != nil {
		return err
	}
	// Sizes first: nothing below parses a value before it is known to be
	// short.
	for _, f := range [...]struct {
		name  string
		value string
		limit int
	}{
		{"email", p.Email, MaxEmailLen}, {"phone", p.Phone, MaxPhoneLen},
		{"first_name", p.FirstName, MaxNameLen}, {"last_name", p.LastName, MaxNameLen},
		{"company", p.Company, MaxCompanyLen}, {"title", p.Title, MaxTitleLen},
		{"city", p.City, MaxCityLen}, {"state", p.State, MaxStateLen}, {"country", p.Country, MaxCountryLen},
		{"timezone", p.TimeZone, MaxTimeZoneLen}, {"owner", p.Owner, MaxOwnerLen},
	} {
		if err := checkText(f.name, f.value, f.limit, false); err != nil {
			return err
		}
	}
	if err := checkAttrs(p.Attr); err != nil {
		return err
	}
	if p.Email == "" && p.Phone == "" {
		return &FieldError{Field: "email", Msg: "a prospect needs an email or a phone"}
	}
	if p.Email != "" {
		a, err := mail.ParseAddress(p.Email)
		if err != nil || a.Name != "" {
			return &FieldError{Field: "email", Value: excerpt(p.Email), Msg: "not a valid address"}
		}
		p.Email = strings.ToLower(a.Address)
	}
	if p.Phone != "" {
		e164, err := cadence.NormalizePhone(p.Phone, defaultRegion)
		if err != nil {
			return &FieldError{Field: "phone", Msg: err.Error(), Err: err}
		}
		p.Phone = e164
	}
	if p.TimeZone != "" {
		if _, err := cadence.LoadZone(p.TimeZone); err != nil {
			return &FieldError{Field: "timezone", Msg: err.Error(), Err: err}
		}
	}
	p.State = strings.ToUpper(strings.TrimSpace(p.State))
	return nil
}

// Recipient is the gate's view of the prospect.
func (p *Prospect) Recipient() cadence.Recipient {
	r := cadence.Recipient{Email: p.Email, Phone: p.Phone, State: p.State, EmailBlocked: p.EmailBlocked,
		SMSBlocked: p.SMSBlocked, Attr: p.Attr}
	if p.TimeZone != "" {
		r.Zone, _ = time.LoadLocation(p.TimeZone)
	}
	if p.Phone != "" {
		r.PhoneZones = zonesFor(p.Phone)
	}
	return r
}

// TemplateData is what templates render from.
func (p *Prospect) TemplateData() templates.Data {
	return templates.Data{FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone,
		Company: p.Company, Title: p.Title, City: p.City, Region: p.State, Country: p.Country,
		TimeZone: p.TimeZone, Owner: p.Owner, Attr: p.Attr}
}
