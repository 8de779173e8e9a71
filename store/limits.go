package store

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits on prospect fields, in bytes (attribute count excepted).
// Normalize refuses a prospect that exceeds any of them with a
// *FieldError naming the field and the limit.
const (
	// MaxIDLen bounds a prospect id; ids also use only IDChars.
	MaxIDLen = 128
	// MaxEmailLen is the longest address SMTP can carry (RFC 5321 4.5.3.1.3).
	MaxEmailLen = 254
	// MaxPhoneLen bounds the number as given; stored numbers are E.164
	// (at most 16 characters).
	MaxPhoneLen = 64
	// MaxNameLen bounds first_name and last_name.
	MaxNameLen     = 200
	MaxCompanyLen  = 200
	MaxTitleLen    = 200
	MaxCityLen     = 100
	MaxStateLen    = 100
	MaxCountryLen  = 100
	MaxTimeZoneLen = 64
	// MaxOwnerLen bounds owner, which is part of a Redis key name.
	MaxOwnerLen = 128
	// MaxAttrs bounds the number of custom attributes.
	MaxAttrs = 50
	// MaxAttrKeyLen bounds an attribute name; names use only letters,
	// digits and _ and do not start with a digit, so a template can say
	// .Attr.NAME.
	MaxAttrKeyLen = 64
	// MaxAttrValueLen bounds an attribute value.
	MaxAttrValueLen = 1000
)

// IDChars lists what a prospect id may contain besides ASCII letters and
// digits. Everything else is refused: / ? # % and space break URL paths
// and tracking links, ~ and | separate parts of enrollment ids and
// tracking tokens, : separates parts of Redis key names (an id "x:sends"
// would name another prospect's key) and {} are Redis Cluster hash tags.
// Lowercased email addresses and E.164 numbers, the default ids, fit.
const IDChars = "._-@+"

// FieldError is a prospect field that Normalize refused.
type FieldError struct {
	// Field is the JSON name: "first_name", "attr.plan"; "attr" for the
	// number of attributes or a bad attribute name.
	Field string
	// Value is an excerpt of the refused value (at most 64 bytes, valid
	// UTF-8), shown in Error. It is empty for size errors, which give the
	// size instead.
	Value string
	// Limit is the limit exceeded: bytes, or for "attr" a count; 0 when
	// the error is not about size.
	Limit int
	// Msg says what is wrong.
	Msg string
	// Err is the underlying error, if any (cadence.ErrInvalidPhone, a
	// time zone error).
	Err error
}

func (e *FieldError) Error() string {
	if e.Value != "" {
		return e.Field + " " + strconv.Quote(e.Value) + ": " + e.Msg
	}
	return e.Field + ": " + e.Msg
}

func (e *FieldError) Unwrap() error { return e.Err }

// excerpt shortens s for an error message.
func excerpt(s string) string {
	const n = 64
	if len(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "\uFFFD") + "…"
}

func tooLong(field string, n, limit int) *FieldError {
	return &FieldError{Field: field, Limit: limit, Msg: fmt.Sprintf("%d bytes, longer than the %d-byte limit", n, limit)}
}

// checkText enforces a length limit, valid UTF-8 and, unless multiline,
// no control characters; multiline text may contain tab, CR and LF.
func checkText(field, s string, limit int, multiline bool) error {
	if len(s) > limit {
		return tooLong(field, len(s), limit)
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &FieldError{Field: field, Value: excerpt(s), Msg: fmt.Sprintf("not valid UTF-8 at byte %d", i)}
			}
		}
		if unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\n' || r == '\r')) {
			return &FieldError{Field: field, Value: excerpt(s), Msg: fmt.Sprintf("control character %U at byte %d is not allowed", r, i)}
		}
	}
	return nil
}

// checkID reports whether id is a valid prospect id: 1-MaxIDLen ASCII
// letters, digits and IDChars, not starting with a dot (so "." and ".."
// never reach a URL path).
func checkID(id string) error {
	if id == "" {
		return &FieldError{Field: "id", Msg: "required (1-128 letters, digits and " + spaced(IDChars) + ")"}
	}
	if len(id) > MaxIDLen {
		return tooLong("id", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(IDChars, c) >= 0 {
			continue
		}
		r, _ := utf8.DecodeRuneInString(id[i:])
		what := strconv.QuoteRune(r)
		if r == utf8.RuneError {
			what = fmt.Sprintf("byte 0x%02x", c)
		}
		return &FieldError{Field: "id", Value: excerpt(id), Msg: fmt.Sprintf("%s at byte %d is not allowed; ids use only letters, digits and %s", what, i, spaced(IDChars))}
	}
	if id[0] == '.' {
		return &FieldError{Field: "id", Value: id, Msg: "must not start with a dot"}
	}
	return nil
}

// CheckAttrKey reports whether name is a valid attribute name.
func CheckAttrKey(name string) error {
	bad := name == "" || len(name) > MaxAttrKeyLen || name[0] >= '0' && name[0] <= '9'
	for i := 0; i < len(name) && !bad; i++ {
		c := name[i]
		bad = !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_')
	}
	if !bad {
		return nil
	}
	fe := &FieldError{Field: "attr", Value: excerpt(name), Msg: fmt.Sprintf("attribute names are 1-%d letters, digits and _, not starting with a digit (templates use .Attr.NAME)", MaxAttrKeyLen)}
	if len(name) > MaxAttrKeyLen {
		fe.Limit = MaxAttrKeyLen
	}
	return fe
}

func spaced(chars string) string { return strings.Join(strings.Split(chars, ""), " ") }

// checkAttrs enforces the attribute limits. Of several bad attributes it
// reports the one whose name sorts first, so the answer is stable.
func checkAttrs(attr map[string]string) error {
	if len(attr) > MaxAttrs {
		return &FieldError{Field: "attr", Limit: MaxAttrs, Msg: fmt.Sprintf("%d attributes, more than the limit of %d", len(attr), MaxAttrs)}
	}
	var first error
	firstKey := ""
	for k, v := range attr {
		if first != nil && k >= firstKey {
			continue
		}
		err := CheckAttrKey(k)
		if err == nil {
			err = checkText("attr."+k, v, MaxAttrValueLen, true)
		}
		if err != nil {
			first, firstKey = err, k
		}
	}
	return first
}
