package templates

import "unicode/utf16"

// Encoding is the character set an SMS is sent in.
type Encoding string

const (
	// GSM7 packs each character in 7 bits: 160 per single message, 153 per
	// part of a concatenated one. Extension characters cost two.
	GSM7 Encoding = "GSM-7"
	// UCS2 uses UTF-16 code units: 70 per single message, 67 per part. One
	// character outside GSM-7 switches the whole message.
	UCS2 Encoding = "UCS-2"
)

// Limits on an SMS body, as Twilio enforces them.
const (
	MaxSegments = 10
	MaxChars    = 1600
)

// SegmentInfo describes how a body travels as SMS.
type SegmentInfo struct {
	Encoding Encoding
	// Units is the body's length in septets (GSM-7) or UTF-16 code units.
	Units int
	// Chars is the body's length in Unicode characters.
	Chars    int
	Segments int
}

// gsmBasic is the GSM 03.38 basic character set.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension characters are sent as ESC + char: two septets each.
const gsmExtension = "\f^{}\\[~]|€"

var gsmCost = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// CountSegments reports the encoding and segment count of body. Escape pairs
// (GSM-7) and surrogate pairs (UCS-2) are never split across parts, as
// handsets would show broken characters, so a part may carry one unit less.
func CountSegments(body string) SegmentInfo {
	info := SegmentInfo{Encoding: GSM7}
	for _, r := range body {
		info.Chars++
		if gsmCost[r] == 0 {
			info.Encoding = UCS2
		}
	}
	if info.Chars == 0 {
		return info
	}
	// costs holds each character's unit cost in the chosen encoding.
	single, multi := 160, 153
	if info.Encoding == UCS2 {
		single, multi = 70, 67
	}
	cost := func(r rune) int {
		if info.Encoding == GSM7 {
			return gsmCost[r]
		}
		return utf16.RuneLen(r)
	}
	for _, r := range body {
		info.Units += cost(r)
	}
	if info.Units <= single {
		info.Segments = 1
		return info
	}
	segments, used := 1, 0
	for _, r := range body {
		c := cost(r)
		if used+c > multi {
			segments++
			used = 0
		}
		used += c
	}
	info.Segments = segments
	return info
}
