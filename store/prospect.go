package store

import (
	"fmt"
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
// numbers written without a country code.
func (p *Prospect) Normalize(defaultRegion string) error {
	p.ID = strings.TrimSpace(p.ID)
	if p.ID == "" || strings.ContainsAny(p.ID, "~{} \t\n") || len(p.ID) > 128 {
		return fmt.Errorf("id %q: must be 1-128 characters without spaces, braces or ~", p.ID)
	}
	if p.Email == "" && p.Phone == "" {
		return fmt.Errorf("prospect %s: needs an email or a phone", p.ID)
	}
	if p.Email != "" {
		a, err := mail.ParseAddress(p.Email)
		if err != nil || a.Name != "" {
			return fmt.Errorf("email %q: not a valid address", p.Email)
		}
		p.Email = strings.ToLower(a.Address)
	}
	if p.Phone != "" {
		e164, err := cadence.NormalizePhone(p.Phone, defaultRegion)
		if err != nil {
			return fmt.Errorf("phone: %w", err)
		}
		p.Phone = e164
	}
	if p.TimeZone != "" {
		if _, err := cadence.LoadZone(p.TimeZone); err != nil {
			return fmt.Errorf("timezone: %w", err)
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
