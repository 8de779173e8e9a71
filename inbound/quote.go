package inbound

import (
	"regexp"
	"strings"
)

// Lines are matched folded (lower case, no accents), trimmed.
var (
	// "On Tue, Dec 8, 2026 at 9:02 AM Sam <sam@x> wrote:", "Le mar. 8 déc.
	// 2026 à 09:02, Léa <l@x> a écrit :", "Am Di., 8. Dez. 2026 um 09:02 Uhr
	// schrieb Jan <j@x>:", "El mar, 8 dic 2026 a las 9:02, Marta (<m@x>)
	// escribió:", Apple's and Thunderbird's variants.
	attribLead = regexp.MustCompile(`^(on|le|am|el|em|op|il|den)\b.{4,300}\b(wrote|a ecrit|schrieb|escribio|escreveu|schreef|ha scritto|skrev)\b.{0,120}:$`)
	// "Sam Carter <sam@x> wrote:", "Jan <j@x> schrieb am 08.12.2026:",
	// "2026-12-08 9:02 GMT-05:00 Sam <sam@x>:" — needs a digit or an @.
	attribAny   = regexp.MustCompile(`^.{0,300}\b(wrote|a ecrit|schrieb|escribio|escreveu|schreef|ha scritto)\b.{0,120}:$`)
	attribStart = regexp.MustCompile(`^(on|le|am|el)\b`)
	attribOld   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} .{0,60}<[^<>\s]+@[^<>\s]+>:$`)
	separator   = regexp.MustCompile(`^[-_*=\s]{2,}\s*(original message|original-nachricht|ursprungliche nachricht|message d'origine|message original|mensaje original|forwarded message|message transfere|weitergeleitete nachricht|mensaje reenviado|reply message|mensagem original)\s*[-_*=\s]*$`)
	forwarded   = regexp.MustCompile(`^(begin forwarded message|debut du message reexpedie|anfang der weitergeleiteten nachricht|inicio del mensaje reenviado)\s*:?$`)
	underscore  = regexp.MustCompile(`^_{8,}$`)
	hdrFrom     = regexp.MustCompile(`^\*?(from|de|von|van|da|od)\s?\*?:\s*\S`)
	hdrOther    = regexp.MustCompile(`^\*?(sent|date|envoye|gesendet|datum|enviado|enviado el|fecha|to|a|an|para|cc|subject|objet|betreff|asunto|onderwerp)\s?\*?:`)
	hdrSubject  = regexp.MustCompile(`^\*?(subject|objet|betreff|asunto|onderwerp|sent|envoye|gesendet|enviado|enviado el|date|datum|fecha)\s?\*?:`)
	sigDash     = regexp.MustCompile(`^(--|__)$`)
	mobileSig   = regexp.MustCompile(`^(sent from my \w+.*|sent from (outlook|mail|yahoo|gmail|samsung|proton|my mobile|my phone)\b.*|get outlook for (ios|android).*|sent via .{1,40}|sent with .{1,30} mail.*|envoye (de|depuis) (mon|ma|l'application|outlook|yahoo) .*|obtenir outlook pour (ios|android).*|von meinem \w+( \w+)? gesendet.*|gesendet von (meinem|outlook|mail|yahoo)\b.*|outlook fur (ios|android) beziehen.*|enviado desde (mi|outlook|yahoo)\b.*|obtener outlook para (ios|android).*)$`)
	disclaimer  = regexp.MustCompile(`^(confidentiality notice|confidential(ity)?:|disclaimer:|this (e-?mail|message|communication|transmission)( and any (files|attachments|documents)( transmitted with it)?)? (is|are|may contain|contains|may be) (confidential|privileged|intended)|ce (message|courriel|mail)( et (toutes )?les pieces jointes)? (est|sont|peut|peuvent) (confidentiel|strictement|contenir)|diese (e-?mail|nachricht) (enthalt|kann) vertrauliche|este (mensaje|correo)( electronico)?( y sus (anexos|adjuntos))? (es|son|puede contener|contiene) (confidencial|informacion))`)
)

// NewText returns what the sender wrote in this message: the text above
// the quoted history and the signature. It cuts at the first of
//
//   - a quoted line ("> …");
//   - an attribution line, also wrapped over up to three lines: "On … wrote:",
//     "Le … a écrit :", "Am … schrieb …:", "El … escribió:", "X <x@y> wrote:";
//   - "-----Original Message-----" and its French, German, Spanish forms,
//     "---------- Forwarded message ---------", "Begin forwarded message:";
//   - an Outlook header block: a From:/De :/Von:/De: line followed by
//     Sent:/Envoyé :/Gesendet:/Enviado: or Subject:/Objet :/Betreff:/Asunto:
//     lines (with or without the "____" rule above it);
//   - a signature: a "--" or "-- " line, "Sent from my iPhone", "Get Outlook
//     for iOS", "Envoyé de mon iPhone", "Von meinem iPhone gesendet",
//     "Enviado desde mi iPhone" and similar;
//   - a confidentiality disclaimer ("This email and any attachments are
//     confidential…" and its French, German, Spanish forms).
//
// When nothing comes before the first quote (an inline reply under the
// quoted question), the unquoted lines after it are kept instead.
func NewText(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	fl := make([]string, len(lines))
	for i, l := range lines {
		fl[i] = strings.TrimSpace(foldString(l))
	}
	cut, quotedAt := len(lines), -1
	for i := range lines {
		if c, quoted := cutsAt(fl, i); c {
			cut = i
			if quoted {
				quotedAt = i
			}
			break
		}
	}
	out := strings.TrimSpace(strings.Join(lines[:cut], "\n"))
	if out != "" || quotedAt < 0 {
		return out
	}
	// Inline reply: keep the unquoted lines after the quote, up to a
	// signature or another history marker.
	var kept []string
	for i := quotedAt; i < len(lines); i++ {
		if strings.HasPrefix(fl[i], ">") || isAttribution(fl, i) {
			continue
		}
		if c, _ := cutsAt(fl, i); c {
			break
		}
		kept = append(kept, lines[i])
	}
	return strings.TrimSpace(strings.Join(kept, "\n"))
}

// cutsAt reports whether line i starts quoted history or a signature, and
// whether it is a quote proper (">" or an attribution).
func cutsAt(fl []string, i int) (cut, quote bool) {
	l := fl[i]
	switch {
	case strings.HasPrefix(l, ">"):
		return true, true
	case isAttribution(fl, i):
		return true, true
	case separator.MatchString(l), forwarded.MatchString(l):
		return true, false
	case underscore.MatchString(l) && i+1 < len(fl) && hdrFrom.MatchString(nextNonEmpty(fl, i+1)):
		return true, false
	case hdrFrom.MatchString(l) && headerBlock(fl, i):
		return true, false
	case sigDash.MatchString(l), mobileSig.MatchString(l), disclaimer.MatchString(l):
		return true, false
	}
	return false, false
}

func nextNonEmpty(fl []string, i int) string {
	for ; i < len(fl); i++ {
		if fl[i] != "" {
			return fl[i]
		}
	}
	return ""
}

// isAttribution matches "On … wrote:" on line i, or wrapped over i..i+2.
func isAttribution(fl []string, i int) bool {
	l := fl[i]
	if attribLead.MatchString(l) || attribOld.MatchString(l) || (strings.ContainsAny(l, "@0123456789") && attribAny.MatchString(l)) {
		return true
	}
	if !strings.HasSuffix(l, ":") && len(l) > 3 && attribStart.MatchString(l) {
		joined := l
		for j := i + 1; j < len(fl) && j <= i+2; j++ {
			joined += " " + fl[j]
			if attribLead.MatchString(joined) {
				return true
			}
		}
	}
	return false
}

// headerBlock: at least two header lines follow a From: line, one of
// them a date or subject.
func headerBlock(fl []string, i int) bool {
	n, strong := 0, false
	for j := i + 1; j < len(fl) && j <= i+6; j++ {
		if fl[j] == "" {
			continue
		}
		if !hdrOther.MatchString(fl[j]) {
			break
		}
		n++
		strong = strong || hdrSubject.MatchString(fl[j])
	}
	return n >= 2 && strong
}
