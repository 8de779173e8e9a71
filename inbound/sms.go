package inbound

import (
	"strings"
	"time"
	"unicode"
)

// Keyword is an SMS control keyword.
type Keyword int

const (
	None Keyword = iota
	Stop
	Start
	Help
)

// String names the keyword family.
func (k Keyword) String() string {
	switch k {
	case Stop:
		return "STOP"
	case Start:
		return "START"
	case Help:
		return "HELP"
	}
	return "none"
}

// SMS keyword lists and where each word comes from:
//
//   - STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT: Twilio's
//     default opt-out keywords (Messaging Services / Advanced Opt-Out docs).
//   - "stop", "quit", "end", "revoke", "opt out", "cancel", "unsubscribe":
//     the FCC's revocation rule, 47 CFR 64.1200(a)(10) (FCC 24-24, in force
//     11 April 2025).
//   - ARRET, OPT-OUT, REMOVE, TD: AWS End User Messaging's required US/Canada
//     opt-out keywords (with the words above).
//   - ARRET (STOP) and AIDE (HELP): the CWTA's mandatory French keywords for
//     Canadian short codes; UNSUB is in Twilio's Canadian keyword article.
//   - STOP ALL: Telnyx's default list.
//   - START, UNSTOP, YES and HELP, INFO: Twilio and CTIA defaults.
//
// No carrier or provider default list we could find has Spanish or German
// opt-out words (BAJA, PARAR, ALTO, ABMELDEN …), so they are not keywords
// here; ClassifySMS still routes "baja", "no más mensajes" or "bitte keine
// SMS mehr" to an opt-out through the reply rules.
var (
	// stopLead may start a longer message ("STOP please", "unsubscribe me"):
	// none of them begins ordinary replies.
	stopLead = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "UNSUB": true, "OPTOUT": true, "ARRET": true, "REVOKE": true}
	// stopOnly counts only as the whole message (politeness words aside):
	// "End of month works", "Cancel Tuesday, Thursday is better", "Quite
	// right" must stay replies.
	stopOnly   = map[string]bool{"CANCEL": true, "END": true, "QUIT": true, "REMOVE": true, "TD": true}
	startWords = map[string]bool{"START": true, "UNSTOP": true, "YES": true}
	helpWords  = map[string]bool{"HELP": true, "INFO": true, "AIDE": true}
	// Said around a keyword without changing it: "please stop", "STOP
	// thanks", "arrêt svp".
	politeLead  = map[string]bool{"PLEASE": true, "PLS": true, "PLZ": true, "KINDLY": true, "OK": true, "OKAY": true, "JUST": true}
	politeTrail = map[string]bool{"PLEASE": true, "PLS": true, "PLZ": true, "NOW": true, "THANKS": true, "THX": true, "TY": true, "SVP": true, "STP": true, "MERCI": true}
	// "stop by", "stop over", "stop in" are visits, not opt-outs.
	stopVisit = map[string]bool{"BY": true, "OVER": true, "PAST": true, "ROUND": true, "AROUND": true, "IN": true}
	// "remove me", "remove my number", "remove from list"; not "remove the
	// second line item".
	removeObject = map[string]bool{"ME": true, "MY": true, "US": true, "FROM": true}
)

// smsTokens upper-cases, accent-folds and splits a message on anything
// that is not a letter or digit: "Arrêt!", "opt-out", "S.T.O.P" and
// "STOP 🛑" all tokenise the same way as their plain forms.
func smsTokens(body string) []string {
	f := foldString(body)
	return strings.FieldsFunc(strings.ToUpper(f), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// SMSKeyword classifies an inbound SMS body (COMPLIANCE.md 1, 3, 4).
// Matching ignores case, accents, punctuation and spacing ("Arrêt",
// "opt-out", "STOP!!!", "S.T.O.P", "stop all").
//
// Stop is returned when the whole message is an opt-out keyword (see the
// source list above), optionally wrapped in politeness words ("please
// stop", "cancel please", "arrêt svp"), or when the message begins with
// STOP, STOPALL, STOP ALL, UNSUBSCRIBE, UNSUB, OPTOUT, OPT OUT, OPT-OUT,
// REVOKE or ARRET ("stop please", "STOP!!! no more", "unsubscribe me",
// "please stop texting me") — except "stop by/over/in/round …", which is
// a visit. REMOVE starts a Stop only with an object that is the sender
// ("remove me", "remove my number", "remove from list"). CANCEL, END, QUIT,
// REMOVE and TD count only as the whole message, since "End of month works
// for me" or "Cancel Tuesday, Thursday is better" are replies; such
// messages go to ClassifySMS, whose reply rules still catch "cancel my
// subscription" or "quit texting me".
//
// Start (START, UNSTOP, YES) and Help (HELP, INFO, AIDE) must be the whole
// message: "yes please" and "help me pick a plan" are replies.
func SMSKeyword(body string) Keyword {
	toks := smsTokens(body)
	if len(toks) == 0 {
		return None
	}
	if k := wholeKeyword(toks); k != None {
		return k
	}
	core := toks
	for len(core) > 0 && politeLead[core[0]] {
		core = core[1:]
	}
	for len(core) > 0 && politeTrail[core[len(core)-1]] {
		core = core[:len(core)-1]
	}
	if n := len(core); n >= 2 && core[n-2] == "THANK" && core[n-1] == "YOU" {
		core = core[:n-2]
	}
	if len(core) == 0 {
		return None
	}
	if len(core) < len(toks) && wholeKeyword(core) == Stop {
		return Stop
	}
	switch {
	case stopLead[core[0]]:
		if core[0] == "STOP" && len(core) > 1 && stopVisit[core[1]] {
			return None
		}
		return Stop
	case len(core) >= 2 && core[0] == "OPT" && core[1] == "OUT":
		return Stop
	case core[0] == "REMOVE" && len(core) >= 2 && (removeObject[core[1]] || core[1] == "THIS" && len(core) >= 3 && (core[2] == "NUMBER" || core[2] == "PHONE")):
		return Stop
	}
	return None
}

// wholeKeyword matches the whole message, spaced ("STOP ALL", "OPT OUT")
// or run together ("STOPALL", "S T O P").
func wholeKeyword(toks []string) Keyword {
	for _, w := range []string{strings.Join(toks, " "), strings.Join(toks, "")} {
		switch {
		case stopLead[w], stopOnly[w], w == "STOP ALL", w == "OPT OUT":
			return Stop
		case startWords[w]:
			return Start
		case helpWords[w]:
			return Help
		}
	}
	return None
}

// ClassifySMS classifies an inbound SMS that SMSKeyword did not read as a
// keyword, with the same rules as ClassifyReply (no subject, no headers,
// nothing quoted): "please don't text me again", "baja", "no más
// mensajes" are ClassOptOut; "wrong number" is ClassWrongPerson (the
// consent belonged to someone else: the number should be opted out of SMS
// too); "I'm driving with notifications silenced" is ClassAutoReply. A
// Stop keyword gives ClassOptOut as well, so a caller may use ClassifySMS
// alone. now is when the SMS arrived: "not now, try me in March" gets
// Until from it.
func ClassifySMS(body string, now time.Time) Classification {
	if SMSKeyword(body) == Stop {
		m := strings.TrimSpace(body)
		return Classification{Class: ClassOptOut, Match: m, Reason: "SMS opt-out keyword: " + quote(m), Lang: detectLang(foldString(body))}
	}
	return classifyAt("", body, nil, now, true)
}
