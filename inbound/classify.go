package inbound

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Class is what a reply asks for, as far as the cadence is concerned.
type Class string

const (
	// ClassOptOut asks to stop receiving messages ("please remove me",
	// "unsubscribe", "ne plus recevoir", "austragen", "darse de baja"):
	// unsubscribe at once (COMPLIANCE.md 22), never warm the lead.
	ClassOptOut Class = "opt_out"
	// ClassOutOfOffice is an absence notice; Until is the first day back
	// when the notice gives one.
	ClassOutOfOffice Class = "out_of_office"
	// ClassAutoReply is any other automatic answer: helpdesk receipts,
	// "thanks for your email" autoresponders, unmonitored mailboxes,
	// challenge-response filters, "I'm driving" SMS replies.
	ClassAutoReply Class = "auto_reply"
	// ClassBounce is a delivery failure that did not come as a DSN report
	// ("Undeliverable:", "Mail delivery failed", "Delivery Status
	// Notification (Failure)" in plain text, a mailbox-full notice).
	ClassBounce Class = "bounce_in_disguise"
	// ClassNotNow defers: "not right now", "circle back next quarter",
	// "maybe in Q3". Until is when to try again, when stated.
	ClassNotNow Class = "not_now"
	// ClassWrongPerson: not the right person, left the company, or a
	// referral; Referral holds the address pointed to, when given.
	ClassWrongPerson Class = "wrong_person"
	// ClassPositive is a human reply that is none of the above: interest,
	// a question, scheduling — and plain declines ("no thanks") that do
	// not ask to stop email. Sales should read it.
	ClassPositive Class = "positive"
)

// Classes lists every Class, in a fixed order.
var Classes = []Class{ClassOptOut, ClassOutOfOffice, ClassAutoReply, ClassBounce, ClassNotNow, ClassWrongPerson, ClassPositive}

// Classification is what ClassifyReply read in a reply.
type Classification struct {
	Class Class
	// Reason explains the decision for the timeline, quoting the phrase
	// that matched: `opt-out request: "please remove me from your list"`.
	Reason string
	// Match is that phrase, verbatim from the message ("" for a positive
	// reply, which is what is left when no rule matches).
	Match string
	// Auto reports a machine-generated message: Auto-Submitted other than
	// "no", X-Autoreply, X-Autorespond, Precedence: auto_reply, an
	// auto-reply subject ("Automatic reply:", "Out of office", "Réponse
	// automatique", "Abwesenheit", "Respuesta automática" …), or a
	// no-reply / mailer-daemon / postmaster sender. An Auto message is
	// never ClassPositive or ClassNotNow.
	Auto bool
	// Until is, for ClassOutOfOffice, the first day the sender is back;
	// for ClassNotNow, the day they asked to be contacted again. Zero when
	// the message does not say. UntilPhrase is the text it was read from.
	Until       Date
	UntilPhrase string
	// Referral is an address the message points to instead of the sender
	// (lower case): set for ClassWrongPerson and, when the text names one,
	// for an out-of-office or opt-out message too.
	Referral string
	// FailedRecipient is, for ClassBounce, the address that could not be
	// reached, when the text names it.
	FailedRecipient string
	// Lang is the language the rules recognised: "en", "fr", "de", "es", or
	// "" when there is too little text to tell.
	Lang string
}

// ClassifyReply classifies a reply by rules, without the network. subject
// is the decoded Subject; text is the decoded body as MessageText returns
// it — the quoted history and signature are removed here (NewText) so
// that our own quoted footer ("Unsubscribe: …") never counts; h may be nil.
// Until is read relative to h's Date header; without one no date is read
// (the package has no clock): use ClassifyReplyAt.
//
// Rules, in order: a delivery failure (mailer-daemon/postmaster sender,
// "Undeliverable:"-style subject, or two delivery-failure phrases); an
// opt-out request (negations such as "please don't remove me" and "I
// unsubscribed by accident" do not count); wrong person / left the
// company / referral; then for automatic messages out-of-office or other
// auto-reply; for human ones an out-of-office notice (an absence plus a
// return date or "limited access / in my absence / will reply when back",
// and no question or proposal to the reader), an automatic-reply phrase,
// a deferral (not_now); anything else is positive.
func ClassifyReply(subject, text string, h mail.Header) Classification {
	return classifyAt(subject, text, h, time.Time{}, false)
}

// ClassifyReplyAt is ClassifyReply with the time relative dates count from
// when the message has no usable Date header (ParseEmail passes its now).
func ClassifyReplyAt(subject, text string, h mail.Header, now time.Time) Classification {
	return classifyAt(subject, text, h, now, false)
}

// rule is a phrase pattern over folded text. negBefore is tried on the
// clause before the match, negAfter on the text after it: either matching
// cancels that occurrence.
type rule struct {
	re                  *regexp.Regexp
	why                 string
	negBefore, negAfter *regexp.Regexp
}

func r(why, pattern string) rule { return rule{re: regexp.MustCompile(pattern), why: why} }

func (x rule) unless(before, after string) rule {
	if before != "" {
		x.negBefore = regexp.MustCompile(before)
	}
	if after != "" {
		x.negAfter = regexp.MustCompile(after)
	}
	return x
}

type match struct {
	start, end int
	why        string
}

var negClause = regexp.MustCompile(`[.!?;:,\n]|\s-\s|\bbut\b|\bmais\b|\baber\b|\bpero\b`)

// first returns the earliest non-negated match of the first rule (in list
// order) that has one.
func first(fs string, rules []rule) (match, bool) {
	for _, x := range rules {
		for _, m := range x.re.FindAllStringIndex(fs, -1) {
			if x.negBefore != nil {
				// The clause before the match, within 200 bytes.
				base := max(0, m[0]-200)
				cs := base
				for _, b := range negClause.FindAllStringIndex(fs[base:m[0]], -1) {
					cs = base + b[1]
				}
				if x.negBefore.MatchString(fs[cs:m[0]]) {
					continue
				}
			}
			if x.negAfter != nil {
				rest := fs[m[1]:]
				if len(rest) > 60 {
					rest = rest[:60]
				}
				if x.negAfter.MatchString(rest) {
					continue
				}
			}
			return match{m[0], m[1], x.why}, true
		}
	}
	return match{}, false
}

func anyMatch(fs string, rules []rule) bool { _, ok := first(fs, rules); return ok }

// Negations that cancel an opt-out phrase in the same clause, and the
// conditional of a footer ("if you no longer wish to receive …").
const negOptOut = `(?:\bif\s+you\s+(?:[a-z']+\s+){0,3}|\b(?:don'?t|do\s+not|dont|didn'?t|did\s+not|no\s+need\s+to|not|never|won'?t|wouldn'?t|isn'?t|wasn'?t|without|nicht|kein|keine)\s+(?:[a-z']+\s+){0,3}|\bne\s+(?:me\s+|m'|nous\s+|le\s+|la\s+)?|\bno\s+(?:me\s+|nos\s+|lo\s+|la\s+)?(?:[a-z]+\s+)?)$`

var optOutRules = []rule{
	// A clause that is only the request: "Unsubscribe", "Remove", "STOP",
	// "Please stop.", "not interested, remove", "Abmelden", "Baja".
	r("opt-out request", `(?m)(?:^|[,.;:!-]\s*)(?:please\s+|pls\s+|kindly\s+|just\s+)?(?:unsubscribe|unsubcribe|unsuscribe|unsubscibe|unsusbcribe|unsubscirbe|unsub|remove|stop|opt\s*-?\s*out|take\s+me\s+off|desinscription|desinscrire|desabonnement|desabonner|abmelden|austragen|abbestellen|baja|darme\s+de\s+baja|dar\s+de\s+baja)(?:\s+(?:me|us|all|everything|please|pls|thanks|thank\s+you|thx|now|svp|merci|bitte|danke|gracias|por\s+favor))*\s*[.!]*\s*$`),
	r("opt-out request", `\b(?:please\s+|pls\s+|kindly\s+|just\s+)?(?:unsubscribe|unsub)\s+(?:me|us|this\s+(?:e-?mail\s+)?(?:address|account)|my\s+(?:e-?mail|address))\b`).unless(negOptOut, ""),
	r("opt-out request", `\b(?:please|pls|kindly|can\s+you|could\s+you)\s+unsubscribe\b`).unless(negOptOut, ""),
	r("opt-out request", `\b(?:want|like|wish|need|trying|tried|asked|asking)\s+(?:you\s+)?to\s+(?:be\s+)?(?:unsubscribe|unsubscribed|removed|taken\s+off|opt(?:ed)?\s*-?\s*out)\b`).unless(negOptOut, ""),
	r("opt-out request", `\bhow\s+(?:do|can|would)\s+i\s+(?:unsubscribe|opt\s*-?\s*out|get\s+(?:off|removed))\b`),
	r("opt-out request", `\bi(?:'?ve|\s+have)?\s+(?:already\s+)?unsubscribed\b`).unless(negOptOut, `^\W*(?:[a-z']+\W+){0,3}(?:by\s+(?:mistake|accident)|accidentally)`),
	r("opt-out request", `\bremove\s+(?:me|us|my\s+(?:e-?mail|address|name|details|contact|number)|this\s+(?:e-?mail\s+)?address|(?:all\s+of\s+)?us|our\s+(?:e-?mail|address|team|company))\b`).unless(negOptOut, `^\s+(?:from\s+)?(?:the\s+|this\s+)?(?:cc|thread|invite|meeting|call|calendar|chain)\b`),
	r("opt-out request", `\b(?:take|get)\s+(?:me|us|my\s+(?:e-?mail|name|address))\s+off\b`).unless(negOptOut, `^\s+(?:the\s+|this\s+)?(?:cc|thread|invite|meeting|call)\b`),
	r("opt-out request", `\b(?:take|remove)\s+[a-z0-9.&' -]{1,40}\s+off\s+(?:your|the)\s+(?:\w+\s+)?(?:list|lists)\b`).unless(negOptOut, ""),
	r("opt-out request", `\boff\s+(?:of\s+)?(?:your|the|this)\s+(?:(?:mailing|email|e-mail|distribution|contact|marketing|call|outreach|sales|prospect)\s+)?(?:list|lists|database)\b`).unless(negOptOut, ""),
	r("asks to stop emails", `\b(?:stop|quit|cease)\s+(?:e-?mailing|emailing|mailing|messaging|texting|contacting|spamming|writing\s+to|calling|sending\s+(?:me|us|these|those|this|your|any|more|emails|e-mails|messages))\b`).unless(negOptOut, ""),
	r("asks to stop emails", `\bstop\s+(?:these|this|the|your|all|those)\s+(?:e-?mails|emails|messages|mails|texts|sms)\b`).unless(negOptOut, ""),
	r("asks to stop emails", `\b(?:please|pls|just)\s+stop\s*[.!]*\s*$`),
	r("asks not to be contacted", `\b(?:don'?t|do\s+not|dont|never)\s+(?:ever\s+)?(?:e-?mail|contact|message|text|write\s+to|send\s+(?:me|us)\s+(?:any|more|these)|call|spam)\s+(?:me|us)?\s*(?:again|anymore|any\s+more|ever)?\b`).unless("", `^\s*(?:the|a|an|this|that|your\s+deck|until|before|till|on|at|next|tomorrow)\b`),
	r("asks not to be contacted", `\b(?:didn'?t|did\s+not|wouldn'?t|would\s+not)\s+(?:contact|e-?mail|message|write\s+to|text)\s+(?:me|us)\s+(?:again|anymore|any\s+more)\b`),
	r("asks for no more emails", `\b(?:no|any)\s+more\s+(?:e-?mails|emails|messages|mails|texts|spam|of\s+(?:these|this))\b`),
	r("asks for no more emails", `\b(?:don'?t|do\s+not|no\s+longer)\s+(?:want|wish)\s+(?:to\s+(?:receive|get|hear\s+from|be\s+(?:contacted|emailed)))\b`).unless(`\bif\s+you\s+(?:[a-z']+\s+){0,3}$`, ""),
	r("asks for no more emails", `\b(?:don'?t|do\s+not)\s+(?:want|wish)\s+(?:to\s+(?:receive|get|hear)\s+)?(?:any\s+)?(?:more|further|these|your)\s+(?:e-?mails|emails|messages|mail|communications?|updates|texts)\b`),
	r("opt-out request", `\b(?:opt|opting)\s*-?\s*(?:me|us)\s+out\b|\b(?:want|like|wish|please|pls|need)\s+(?:to\s+)?opt\s*-?\s*out\b`),
	r("asks to delete their data", `\b(?:delete|erase|remove)\s+(?:all\s+)?(?:my|our)\s+(?:personal\s+)?(?:data|details|information|contact\s+(?:details|information)|e-?mail(?:\s+address)?|address)\b|\bdeletion\s+of\s+(?:any|all|my)\s+(?:personal\s+)?data\b`),
	r("opt-out request", `\bleave\s+me\s+alone\b|\bcease\s+(?:all\s+)?(?:communication|contact|correspondence)\b|\bcancel\s+(?:my|our)\s+(?:subscription|membership)\b`).unless("", `^\s+(?:with|at)\s+(?:our|my|the|a|an|another|current)\b`),
	r("opt-out request", `\b(?:my|our|this)\s+(?:e-?mail\s+)?(?:address|e-?mail|name|details)\s+(?:is|be|are|gets?|has\s+been)\s+(?:removed|deleted|taken\s+off|unsubscribed)\b|\b(?:receive|get|send(?:\s+me)?)\s+no\s+(?:further|more)\s+(?:correspondence|e-?mails|emails|communications?|contact|messages)\b`),
	r("opt-out request", `\blose\s+my\s+(?:e-?mail|number|address|contact|details)\b`),
	r("says they never opted in", `\bi\s+never\s+(?:signed|opted|subscribed|asked|agreed)\b`),
	// French.
	// Verbs ("désinscrivez-moi", "me désinscrire"); the nouns only as one's
	// own ("ma désinscription"): "la désinscription de vos clients" is a
	// question about someone else.
	r("demande de désinscription", `\b(?:desinscri(?:re|vez|vais|s|t|bez)|desabonn(?:er|ez|e|erai))(?:-moi|-nous)?\b|\b(?:ma|mon|notre)\s+(?:desinscription|desabonnement)\b|\b(?:demande|souhaite|veux|voudrais)\s+(?:la\s+|une\s+|ma\s+)?(?:desinscription|desabonnement)\b`).unless(`\bne\s+(?:me\s+|nous\s+)?$|\bnot\s+(?:[a-z']+\s+){0,2}$|\bpas\s+(?:me\s+)?$|\b(?:clients?|utilisateurs?|destinataires?|patients?|abonnes?)\b`, `^\s+pas\b`),
	r("demande de retrait", `\b(?:retirer|retirez|supprimer|supprimez|effacer|effacez|rayer|rayez|enlever|enlevez)(?:-moi|\s+moi)?\s+(?:(?:mon|mes|notre|nos)\s+(?:adresse|e-?mail|mail|coordonnees|donnees|nom)|de\s+(?:votre|vos|la|cette|ce)\s+(?:liste|fichier|base|listes|mailing))`),
	r("demande de ne plus être contacté", `\bne\s+(?:plus|pas)\s+(?:me\s+|m'|nous\s+)?(?:envoyer|contacter|ecrire|solliciter|recontacter|relancer|adresser)\b`),
	r("demande de ne plus être contacté", `\bne\s+(?:souhaite|veux|desire|voulons|souhaitons)\s+(?:plus|pas)\s+(?:recevoir|etre\s+(?:contacte|sollicite|relance))\b|\bne\s+(?:m'|me\s+|nous\s+)?(?:envoyez|ecrivez|contactez|sollicitez|relancez)\s+plus\b`),
	r("demande d'arrêt", `\b(?:arretez|arreter|cessez)\s+(?:de\s+m'|de\s+me\s+|de\s+nous\s+|vos\s+|les\s+|ces\s+)(?:envoyer|ecrire|contacter|solliciter|relancer|e-?mails|mails|messages|relances|envois)`),
	r("demande d'arrêt", `\bplus\s+de\s+(?:mails|e-?mails|messages|relances|sollicitations)\b`),
	// German.
	// "Können sich Kunden … abmelden?" asks about someone else.
	r("Abmeldung", `\b(?:abmelden|abbestellen|austragen)\b`).unless(`\b(?:nicht|kein)\s+$|\bsich\b|\b(?:kunden|nutzer|empfanger|patienten|teilnehmer)\b`, ""),
	r("Abmeldung", `\btragen\s+sie\s+(?:mich|uns)\s+.{0,40}\baus\b|\bmelden\s+sie\s+(?:mich|uns)\s+(?:bitte\s+)?(?:.{0,30}\s)?ab\b`),
	r("Abmeldung", `\b(?:nehmen|streichen|entfernen|loschen)\s+sie\s+(?:bitte\s+)?(?:mich|uns|meine\s+(?:adresse|e-?mail|daten|kontaktdaten))\b`),
	r("Abmeldung", `\baus\s+(?:dem|ihrem|ihren|eurem|diesem)\s+(?:verteiler|newsletter|e-?mail-?verteiler|mailverteiler|datenbank)\b`),
	r("keine weiteren E-Mails", `\bkeine\s+(?:weiteren?\s+)?(?:e-?mails|mails|nachrichten|zusendungen|werbung|newsletter|kontaktaufnahmen?|werbemails|sms)(?:\s+mehr)?\b`),
	r("nicht mehr kontaktieren", `\b(?:schreiben|mailen|kontaktieren|anschreiben|senden|schicken)\s+sie\s+(?:mir|mich|uns)\s+(?:bitte\s+)?(?:nichts\s+|keine\s+[a-z-]+\s+)?(?:nicht\s+)?mehr\b|\bnicht\s+mehr\s+(?:zu\s+)?(?:kontaktieren|anschreiben|anzuschreiben|anrufen|schreiben|zusenden|kontaktiert|anzurufen)\b|\b(?:kontaktieren|schreiben|anschreiben)\s+sie\s+(?:mich|uns)\s+(?:bitte\s+)?nicht\s+mehr\b`),
	r("Widerspruch", `\bwiderspreche\b.{0,80}\b(?:nutzung|verarbeitung|verwendung|werbung|werbezwecke)|\bunterlassen\s+sie\b`),
	// Spanish.
	r("solicitud de baja", `\b(?:dar|darme|darnos|darse|den|denme|dennos|deme|doy|de|da)\s+(?:me\s+)?de\s+baja\b`).unless(`\bno\s+(?:me\s+|nos\s+)?$`, ""),
	r("solicitud de baja", `\b(?:solicito|quiero|deseo|pido)\s+(?:la\s+|mi\s+)?baja\b|\b(?:desuscribir|desuscribirme|desuscribanme|desuscribame)\b|\bcancelar\s+(?:mi|la)\s+suscripcion\b`),
	r("no quiere recibir más", `\bno\s+(?:quiero|deseo|queremos)\s+recibir\b|\bno\s+mas\s+(?:correos|emails|e-?mails|mensajes)\b`),
	r("pide que dejen de escribir", `\b(?:dejen|deje|deja|dejad)\s+de\s+(?:enviar|mandar|escribir|contactar|llamar)|\bno\s+(?:me|nos)\s+(?:escriban|escriba|escribas|envien|envie|mandes|manden|contacten|contacte|llamen)\s+(?:mas|nunca)\b|\bno\s+(?:vuelvan|vuelva|vuelvas)\s+a\s+(?:contactar|escribir|enviar|llamar)`),
	r("pide que lo eliminen", `\b(?:eliminen|elimine|eliminar|borren|borre|borrar|quiten|quite|quitar|saquen|saque|sacar)(?:me|nos)?\s+(?:de\s+(?:su|sus|la|las|vuestra)\s+(?:lista|listas|base|bases)|(?:mi|mis)\s+(?:correo|direccion|datos|email|e-?mail))`),
}

var optOutSubject = regexp.MustCompile(`^(?:unsubscribe|unsub|remove(?: me)?|opt[ -]?out|stop|desinscription|desabonnement|abmelden|austragen|abmeldung|baja|darse de baja|darme de baja)\W*$`)

var wrongPersonRules = []rule{
	r("not the right person", `\b(?:i'?m|i\s+am)\s+not\s+the\s+(?:right|best|correct|appropriate|relevant)\s+(?:person|contact|one|guy)\b|\bnot\s+the\s+(?:right|best|correct|appropriate)\s+(?:person|contact)\b|\bwrong\s+(?:person|contact|guy|department|number)\b`),
	r("no longer there", `\b(?:is|am|are|i'?m)\s+no\s+longer\s+(?:with|at|employed|working|part\s+of|responsible|in\s+charge|handling|the)\b|\bno\s+longer\s+(?:works?|working)\s+(?:at|for|here)\b`),
	r("left the company", `\b(?:has|have|i'?ve|i)\s+(?:left|departed)\b`).unless("", `^\s+(?:you|a|an|the\s+(?:office|building|meeting|call|room|house)|for\s+(?:the\s+day|today|lunch|vacation|holiday|the\s+holidays)|early|work|it|this|that|them|him|her|my|our|some|feedback|comments|notes|out|over|behind|on)\b`),
	r("left the company", `\b(?:have|has|i'?ve|i)\s+retired\b|\b(?:i'?ve|i\s+have|has|have)\s+moved\s+on\s+from\b|\b(?:don'?t|do\s+not|no\s+longer)\s+work\s+(?:there|here|at|for)\b`),
	r("not their area", `\b(?:isn'?t|is\s+not|not)\s+(?:really\s+|quite\s+)?my\s+(?:area|department|responsibility|call|decision|team|remit|wheelhouse|domain|role)\b|\bnot\s+the\s+decision[\s-]?maker\b|\bjust\s+an?\s+intern\b|\byou\s+(?:probably\s+|really\s+)?want\s+(?:our|someone|somebody|to\s+talk\s+to)\b`),
	r("not their area", `\b(?:i\s+)?(?:don'?t|do\s+not)\s+(?:handle|manage|own|make|deal\s+with|oversee|decide\s+on)\s+(?:that|this|these|vendor|vendors|purchasing|procurement|tooling|sales|the\s+buying|buying|decisions)\b`),
	r("pas la bonne personne", `\bce\s+n'est\s+pas\s+moi\s+qui\b|\b(?:je\s+ne\s+suis|ne\s+suis)\s+pas\s+(?:concernee?|en\s+charge|responsable|decisionnaire|decideur|la\s+bonne)\b|\bpas\s+(?:la\s+bonne\s+personne|le\s+bon\s+interlocuteur|la\s+bonne\s+interlocutrice|la\s+personne\s+(?:adequate|concernee|en\s+charge|indiquee))\b`),
	r("n'est plus dans l'entreprise", `\bne\s+m'occupe\s+(?:plus|pas)\s+de\b|\bchangement\s+de\s+poste\b|\b(?:ne\s+fait|ne\s+fais|ne\s+travaille|n'est|ne\s+suis|ne\s+sont)\s+plus\s+(?:partie|chez|dans|au\s+sein|en\s+poste|avec|pour)\b|\b(?:a|ai)\s+quitte\s+(?:la\s+societe|l'entreprise|le\s+groupe|la\s+structure|[a-z]+)\b`),
	r("nicht zuständig", `\bnicht\s+(?:der|die)\s+(?:richtige|passende|zustandige|korrekte)n?\s+(?:ansprechpartner(?:in)?|person|kontakt(?:person)?)\b|\b(?:der|die)\s+falschen?\s+(?:ansprechpartner(?:in)?|person|adresse|kontakt)\b|\bnicht\s+zustandig\b|\bbei\s+mir\s+(?:leider\s+)?(?:falsch|an\s+der\s+falschen\s+adresse)\b`),
	r("nicht mehr im Unternehmen", `\baus\s+(?:dem|unserem)\s+(?:unternehmen|haus)\s+ausgeschieden\b|\bnicht\s+mehr\s+(?:bei|im\s+unternehmen|in\s+(?:unserem|dem)\s+unternehmen|fur\s+(?:uns|die)|in\s+der\s+firma|tatig|beschaftigt)\b|\b(?:habe|hat)\s+.{0,40}\bverlassen\b`),
	r("no es la persona adecuada", `\bno\s+me\s+ocupo\s+de\b|\bno\s+soy\s+(?:la\s+persona\s+(?:adecuada|indicada|correcta)|el\s+(?:indicado|responsable|encargado|contacto)|la\s+(?:indicada|responsable|encargada))\b|\bno\s+me\s+corresponde\b`),
	r("ya no está en la empresa", `\bya\s+no\s+(?:trabaja|trabajo|esta|estoy|forma\s+parte|formo\s+parte|pertenece|pertenezco)\b|\bno\s+(?:llevo|gestiono|manejo|veo)\s+(?:ese|este|esos|estos|eso)\s+(?:tema|temas|asunto|asuntos)?\b|\b(?:deje|dejo|ha\s+dejado|he\s+dejado)\s+(?:la|el)\s+(?:empresa|compania|grupo|trabajo)\b`),
}

// referralRules point elsewhere without saying the sender is the wrong
// person. Out-of-office notices do that too ("for urgent matters contact
// my colleague"), so these count only when there is no absence.
var referralRules = []rule{
	r("points to someone else", `\b(?:would|will)\s+be\s+(?:the\s+)?(?:better|best|right|correct)\s+(?:person|contact|fit|one)\b|\b(?:he|she|they)(?:'?s|\s+is|\s+are|'re)\s+the\s+(?:one|person)\s+(?:who|to)\b`),
	r("forwarded to someone else", `\b(?:i'?ve|i\s+have|i'?ll|i\s+will|i)\s+(?:forwarded|passed|sent|shared)\s+(?:this|it|your\s+(?:note|email|e-mail|message))\s+(?:along\s+|on\s+|over\s+)?to\b`).unless("", `^\s*(?:myself|me)\b`),
	r("points to someone else", `\byou(?:'?ll|\s+will|'?d|\s+would|\s+should|\s+may|\s+might|\s+probably)\s+(?:want\s+to\s+|need\s+to\s+|have\s+to\s+|be\s+better\s+off\s+)?(?:reach\s+out\s+to|contact|talk\s+to|speak\s+(?:to|with)|email|try|get\s+in\s+touch\s+with|connect\s+with|want\s+someone)\b`).unless("", `^\s+(?:me|us)\b`),
	r("points to someone else", `\b(?:handles|owns|runs|manages|is\s+responsible\s+for|is\s+in\s+charge\s+of|looks\s+after|leads|oversees)\s+(?:all\s+(?:of\s+)?)?(?:our|this|that|the)\s+(?:[a-z]+\s+)?(?:tooling|sales|tools?|vendors?|purchasing|procurement|decisions|evaluation|budget|operations|ops|sdr|revops|marketing|scheduling|stack|crm|software|partnerships?)\b|\b(?:i'?d|i\s+would|better\s+to|best\s+to)\s+(?:reach\s+out\s+to|contact|talk\s+to|speak\s+(?:to|with)|email|ask)\s+(?:him|her|them)\b|\b(?:adding|looping\s+in|cc'?ing|copying|including)\s+[a-z]+(?:\s+[a-z]+)?,?\s+(?:who|she|he|they)\b|\bowns\s+this\b|\b(?:try|ask|contact)\s+(?:our|my)\s+(?:coo|ceo|cfo|cto|cro|vp|head|manager|boss|director|colleague|team|procurement)\b`),
	r("renvoie vers quelqu'un d'autre", `\bje\s+vous\s+(?:mets|met)\s+en\s+(?:relation|contact)\b|\bje\s+(?:transmets|transfere|fais\s+suivre|relaie)\b|\b(?:vous\s+pouvez|veuillez|merci\s+d')\s*(?:ecrire|vous\s+adresser|contacter|vous\s+rapprocher)\s+(?:a|de|directement)\b|\b(?:ecrivez|adressez-vous|contactez|voyez|rapprochez-vous)\s+(?:plutot|directement)\b`),
	r("zuständig ist jemand anderes", `\b(?:dafur|hierfur)\s+ist\s+.{0,60}\bzustandig\b|\bin\s+(?:cc|kopie)\s+gesetzt\b|\bzustandig\s+(?:ist|sind|dafur\s+ist)\b|\bbitte\s+(?:schreiben|wenden)\s+sie\s+(?:sich\s+)?an\b|\b(?:habe|hab)\s+.{0,60}\bweitergeleitet\b`),
	r("lo reenvió a otra persona", `\b(?:le|lo|la|te)\s+(?:reenvie|reenvio|he\s+reenviado|pase|paso)\s+(?:su|tu|el)\s+(?:correo|mensaje|email|e-?mail)\b|\ble\s+sugiero\s+(?:escribir|contactar|hablar)\b`),
}

// Out-of-office evidence, in three families: an absence, a return, and
// what notices say about coping with it.
var (
	oooAbsence = []rule{
		r("absence", `\b(?:i\s+am|i'?m|i\s+will\s+be|i'?ll\s+be|i\s+have\s+been)\s+(?:currently\s+|now\s+|presently\s+)?(?:out\s+of\s+(?:the\s+)?office|ooo|away|on\s+(?:annual\s+|parental\s+|maternity\s+|paternity\s+|sick\s+|medical\s+|personal\s+|bereavement\s+|extended\s+|study\s+)?leave|on\s+(?:vacation|holiday|holidays|pto|sabbatical|a\s+break|business\s+travel)|traveling|travelling|out\s+sick|off\s+sick|at\s+(?:a\s+|the\s+)?(?:conference|trade\s+show|offsite|client\s+site)|attending|off\s+(?:work|until|today|this\s+week)|out\s+(?:today|this\s+week|for\s+the|until|for\s+\d|for\s+(?:two|three|a\s+few))|at\s+[a-z]+\s+this\s+week)\b`),
		r("absence", `(?m)^\W*(?:out\s+of\s+(?:the\s+)?office|ooo|away\s+(?:for|until|from)|on\s+(?:annual\s+|parental\s+)?leave|on\s+(?:vacation|holiday)|currently\s+(?:out|away|traveling|travelling))\b`),
		r("absence", `\b(?:our\s+)?(?:office|offices)\s+(?:is|are|will\s+be)\s+closed\b|\bon\s+(?:sabbatical|parental\s+leave|maternity\s+leave)\b`),
		r("absence", `\b(?:je\s+suis|je\s+serai|suis)\s+(?:actuellement\s+|en\s+ce\s+moment\s+)?(?:absente?|en\s+(?:conges?|vacances|deplacement|formation|seminaire|arret\s+maladie|conge\s+(?:maternite|paternite|parental|maladie))|hors\s+du\s+bureau)\b|\b(?:nos\s+bureaux|le\s+bureau|l'agence)\s+(?:est|sont|seront|sera)\s+fermes?\b|\bfermeture\s+annuelle\b`),
		r("absence", `\b(?:ich\s+bin|bin\s+ich|befinde\s+mich|ich\s+befinde\s+mich)\s+(?:.{0,40}?\s)?(?:nicht\s+im\s+(?:buro|haus|office)|abwesend|im\s+urlaub|auf\s+(?:dienstreise|geschaftsreise|reisen)|nicht\s+erreichbar|in\s+elternzeit|in\s+mutterschutz|krank|krankheitsbedingt|ausser\s+haus)\b|\bkrankheitsbedingt\s+abwesend\b|\b(?:bin|ist)\s+.{0,30}\babwesend\b`),
		r("absence", `\b(?:estoy|estare|me\s+encuentro|estamos)\s+(?:actualmente\s+)?(?:fuera\s+de\s+la\s+oficina|de\s+vacaciones|ausente|de\s+viaje|de\s+baja|fuera|de\s+permiso|en\s+un\s+viaje)\b|\bestare\s+ausente\b`),
	}
	oooReturn = []rule{
		r("return", `\b(?:will\s+be\s+back|i'?ll\s+be\s+back|be\s+back|back\s+(?:in\s+the\s+office|on|in|next|tomorrow|monday|tuesday|wednesday|thursday|friday|the\s+\d)|returning|will\s+return|i\s+return|until|through)\b`),
		r("return", `\b(?:de\s+retour|serai\s+de\s+retour|reviendrai|retour\s+prevu|jusqu'|joignable\s+a\s+nouveau|a\s+mon\s+retour|des\s+mon\s+retour)|\b(?:zuruck\s+(?:am|ab)|wieder\s+(?:im\s+buro|erreichbar|da|fur\s+sie\s+da)|bis\s+(?:einschliesslich|zum|und\s+mit|\d))|\b(?:de\s+vuelta|de\s+regreso|regresare|volvere|vuelvo|me\s+reincorporo|hasta\s+el|a\s+mi\s+regreso|a\s+mi\s+vuelta)\b`),
	}
	oooCoping = []rule{
		r("coping", `\b(?:limited|no|intermittent|patchy|occasional|sporadic)\s+(?:access\s+to\s+(?:my\s+)?e-?mails?|e-?mail\s+access|connectivity|signal)\b|\bchecking\s+e-?mails?\s+(?:only\s+)?(?:occasionally|intermittently|periodically|sporadically)\b|\bnot\s+(?:be\s+)?(?:checking|reading)\s+e-?mails?\b`),
		r("coping", `\b(?:in|during)\s+my\s+absence\b|\bwhile\s+i(?:'?m|\s+am)\s+(?:away|out)\b|\bfor\s+(?:anything\s+)?(?:urgent|immediate|time[\s-]sensitive)\b|\bif\s+(?:this\s+is|your\s+(?:matter|request|message)\s+is|it'?s|you\s+need\s+(?:immediate|urgent))\s+(?:urgent|time[\s-]sensitive|assistance)?\b|\bfor\s+anything\s+that\s+can'?t\s+wait\b`),
		r("coping", `\b(?:will|i'?ll)\s+(?:respond|reply|get\s+back\s+to\s+you|answer|return\s+your|pick\s+up|read)\b.{0,60}\b(?:upon|when|after|on)\s+(?:my\s+)?(?:return|i(?:'?m|\s+am)\s+back|i\s+return|i\s+get\s+back)\b|\b(?:responses?|replies)\s+(?:will\s+be|may\s+be)\s+delayed\b|\bdelayed\s+(?:response|reply)\b|\bexpect\s+(?:a\s+)?(?:delays?|delayed)\b|\b(?:will\s+)?not\s+be\s+forwarded\b|\buntil\s+further\s+notice\b|\bnot\s+checking\s+email\b`),
		r("coping", `\b(?:acces|acces)\s+(?:limite|restreint)\b|\bpas\s+acces\s+a\s+mes\b|\b(?:pendant|durant)\s+mon\s+absence\b|\ben\s+cas\s+d'urgence\b|\bpour\s+toute\s+(?:demande\s+)?urgente?\b|\b(?:des|a)\s+mon\s+retour\b|\bne\s+sera\s+pas\s+(?:transfere|lu)\b`),
		r("coping", `\bin\s+dringenden\s+fallen\b|\bnach\s+meiner\s+ruckkehr\b|\b(?:e-?mail|nachricht|e-?mails)\s+(?:wird|werden)\s+nicht\s+weitergeleitet\b|\b(?:keinen|eingeschrankten?)\s+zugriff\b|\b(?:in|wahrend)\s+meiner\s+abwesenheit\b|\bbis\s+auf\s+weiteres\b`),
		r("coping", `\bacceso\s+limitado\b|\bsin\s+acceso\s+al?\s+correo\b|\b(?:durante|en)\s+mi\s+ausencia\b|\ben\s+caso\s+de\s+urgencia\b|\bpara\s+(?:cualquier\s+)?(?:asunto|tema|consulta)s?\s+urgentes?\b|\ba\s+mi\s+(?:regreso|vuelta)\b`),
	}
	// A question or proposal to the reader: a human, not a notice.
	humanTell = []rule{
		r("human", `\?|\b(?:let'?s|can\s+we|could\s+we|shall\s+we|how\s+about|works?\s+for\s+me|call\s+me|are\s+you\s+(?:free|available)|happy\s+to\s+(?:chat|talk|meet)|i'?d\s+(?:love|like)\s+to)\b`),
		r("human", `\b(?:on\s+peut|pouvons-nous|pourriez-vous|pouvez-vous|si\s+vous\s+voulez|volontiers|on\s+se\s+parle)\b|\b(?:konnen\s+wir|passt\s+(?:ihnen|es))\b|\b(?:podemos|le\s+parece|con\s+gusto|sin\s+problema)\b`),
	}
)

var autoRules = []rule{
	r("automatic message", `\b(?:automated|automatic|auto-?generated|automatically\s+generated|system[\s-]generated)\s+(?:response|reply|message|e-?mail|notification|acknowledge?ment)\b|\bthis\s+is\s+an?\s+(?:automated|automatic|automatically\s+generated)\b`),
	r("do-not-reply notice", `\b(?:please\s+)?do\s+not\s+reply\s+(?:to\s+)?(?:this|directly)\b|\bplease\s+don'?t\s+reply\s+(?:below|to\s+this)\b|\bthere\s+is\s+no\s+need\s+to\s+respond\b`),
	r("unmonitored mailbox", `\b(?:address|mailbox|inbox)\s+is\s+no\s+longer\s+in\s+use\s+for\b|\b(?:was|is|has\s+been)\s+(?:sent|generated|created)\s+automatically\b|\b(?:is|are|will\s+be)\s+(?:not|no\s+longer|never)\s+(?:monitored|read|checked|answered)\b|\bunmonitored\b|\bfor\s+automated\s+(?:notifications|messages|emails)\s+only\b|\b(?:replies|emails|messages)\s+(?:sent\s+)?to\s+this\s+address\s+(?:are|will)\s+not\s+(?:be\s+)?(?:read|reviewed|monitored)\b|\bdoes\s+not\s+accept\s+(?:incoming|replies)\b|\bemails?\s+sent\s+to\s+this\s+address\s+are\s+not\s+reviewed\b`),
	r("receipt", `\b(?:your|this)\s+(?:request|ticket|case|message|e-?mail|inquiry|enquiry|submission)\s+(?:\(?#?[a-z-]*\d[\w-]*\)?\s+)?(?:has\s+been|was|is\s+being)\s+(?:received|created|logged|opened|submitted|reviewed)\b|\b(?:we|we'?ve|we\s+have)\s+(?:got|received)\s+your\s+(?:e-?mail|message|request|inquiry|enquiry|note)\b|\ba\s+ticket\s+has\s+been\s+created\b|\b(?:ticket|case|reference|request)\s+(?:number|id|#|no\.?)\s*:?\s*#?\d+|\bcase\s+(?:number\s+)?\d{5,}\s+has\s+been\b`),
	r("autoresponder", `\b(?:a\s+member\s+of\s+our\s+team|someone\s+from\s+our\s+team|one\s+of\s+our\s+(?:team|representatives|agents)|a\s+(?:support\s+)?representative)\s+will\b|\bdue\s+to\s+(?:a\s+)?high\s+volume\b|\bour\s+(?:office|business)\s+hours\s+are\b|\bonly\s+shortlisted\s+candidates\b|\bonly\s+check\s+(?:my\s+)?(?:e-?mail|inbox)\b`),
	r("sender verification", `\bverification\s+process\b|\b(?:verify|confirm)\s+(?:that\s+)?(?:you|they)(?:'re|\s+are)\s+(?:a\s+)?(?:real\s+person|real|human|not\s+a\s+robot)\b|\b(?:awaiting|waiting\s+for)\s+(?:your\s+)?(?:verification|approval)\b|\bprotecting\s+myself\s+from\s+(?:receiving\s+)?(?:junk|spam)\b|\bclick\s+the\s+link\s+below\s+to\s+(?:complete|verify|confirm)\b`),
	r("driving auto-reply", `\bi'?m\s+driving\b.{0,80}\b(?:notifications|do\s+not\s+disturb)\b|\bsent\s+by\s+do\s+not\s+disturb\b`),
	r("message automatique", `\b(?:message|reponse|e-?mail|courriel)\s+(?:envoye\s+)?automatique(?:ment)?\b|\bmessage\s+envoye\s+automatiquement\b|\bmerci\s+de\s+ne\s+pas\s+(?:y\s+)?repondre\b|\bnous\s+avons\s+bien\s+recu\s+votre\s+(?:message|demande|e-?mail|courriel)\b|\bvotre\s+(?:demande|message|ticket)\s+a\s+(?:bien\s+)?ete\s+(?:enregistree?|recue?|transmise?|prise?\s+en\s+compte)\b|\bsous\s+le\s+numero\b|\b(?:cette\s+adresse|cette\s+boite)\s+(?:e-?mail\s+)?(?:n'est\s+plus|n'est\s+pas)\s+(?:consultee|surveillee|lue)\b`),
	r("automatische Nachricht", `\bautomatisch(?:e|en)?\s+(?:generierte|erstellte|erzeugte|versendete)?\s*(?:nachricht|e-?mail|antwort|eingangsbestatigung)\b|\bwurde\s+automatisch\s+(?:erstellt|generiert|versendet)\b|\beingangsbestatigung\b|\bbestatigen\s+wir\s+den\s+eingang\b|\b(?:ihre|deine)\s+(?:nachricht|anfrage|e-?mail)\s+ist\s+(?:bei\s+uns\s+)?eingegangen\b|\b(?:ticketnummer|ticket-nummer|vorgangsnummer)\b|\bbitte\s+antworten\s+sie\s+nicht\b|\b(?:dieses\s+postfach|diese\s+adresse)\s+wird\s+nicht\s+(?:mehr\s+)?(?:betreut|gelesen|uberwacht)\b`),
	r("mensaje automático", `\b(?:mensaje|respuesta|correo)\s+(?:generad[oa]\s+)?automatic[oa]\b|\bgenerado\s+automaticamente\b|\bno\s+responda\s+a\s+este\b|\bhemos\s+recibido\s+(?:su|tu)\s+(?:mensaje|solicitud|correo|consulta|email)\b|\b(?:su|tu)\s+(?:solicitud|consulta|ticket|caso)\s+(?:ha\s+sido|fue)\s+(?:registrad|recibid|cread)|\bnumero\s+de\s+(?:caso|ticket|incidencia|solicitud)\b|\b(?:este\s+buzon|esta\s+direccion)\s+no\s+(?:esta\s+siendo\s+atendid|es\s+atendid|se\s+revisa|esta\s+monitorizad)`),
}

var notNowRules = []rule{
	r("not now", `\bnot\s+(?:right\s+)?now\b|\bnot\s+at\s+(?:the|this)\s+(?:moment|time|point)\b|\bnot\s+(?:a|the)\s+(?:good\s+|right\s+|great\s+)?(?:time|moment|priority)\b|\bisn'?t\s+(?:a\s+)?(?:priority|great|good|right)\b|\btiming\s+(?:isn'?t|is\s+not|doesn'?t|does\s+not|is\s+(?:bad|off|wrong))\b|\b(?:hold|holding)\s+off\b|\b(?:a\s+bit|too|bit)\s+early\s+for\s+us\b`),
	r("asks to follow up later", `\b(?:reach\s+(?:back\s+)?out|pick\s+(?:this|it|things)\s+(?:back\s+)?up|follow\s+up|check\s+in|check\s+back|ping|touch\s+base|reconnect|try|contact|send|email|talk|connect|speak|revisit|circle\s+back|come\s+back|get\s+in\s+touch|look\s+at\s+(?:this|it))\b.{0,30}?\b(?:in|next|after|early|later|around|closer\s+to|once|then|when)\b\s*(?:the\s+)?(?:q[1-4]|new\s+year|(?:a\s+)?(?:few|couple|two|three|four|six|several|\d+)\s+(?:\w+\s+)?(?:weeks|months)|(?:next\s+|the\s+)?(?:quarter|year|month|fiscal|spring|summer|fall|autumn)|january|february|march|april|may|june|july|august|september|october|november|december|holidays|our\s+(?:q[1-4]|planning|migration|launch)|\d{1,2}(?:st|nd|rd|th)|that|then)\b`),
	r("asks to follow up later", `\b(?:circle|check)\s+back\b|\bgive\s+(?:me|us)\s+(?:a\s+(?:month|week|few|couple|bit)|(?:two|three|six|\d+)\s+(?:weeks|months))\b|\bnot\s+(?:this|until\s+next)\s+(?:quarter|year|month)\b|\b(?:will|can|has\s+to|have\s+to|'ll)\s+(?:have\s+to\s+)?wait\s+until\b|\b(?:maybe|perhaps)\s+(?:in|next|later|after)\b|\blater\s+(?:this|in\s+the|next)\s+(?:year|quarter|spring|summer|fall)\b|\b(?:we'?ll|we\s+will|i'?ll|i\s+will)\s+be\s+in\s+touch\s+when\b`),
	r("no budget or locked in", `\b(?:no|don'?t\s+have\s+(?:the\s+|a\s+)?|won'?t\s+have\s+(?:the\s+|a\s+)?)budget\b|\bbudget\s+(?:for\s+[a-z]+(?:\s+[a-z]+)?\s+)?(?:is\s+)?(?:locked|frozen|spent|allocated|exhausted)\b|\bfreez(?:e|ing)\s+(?:all\s+)?(?:new\s+)?(?:spend|spending|budget|purchases)\b|\b(?:locked|tied)\s+into\s+(?:a|our|the)\s+contract\b|\b(?:too|very|really)\s+busy\s+(?:right\s+now|at\s+the\s+moment|this\s+(?:quarter|month))\b`),
	r("pas maintenant", `\bpas\s+(?:pour\s+le\s+moment|pour\s+l'instant|maintenant|en\s+ce\s+moment|tout\s+de\s+suite|cette\s+annee|prioritaire)\b|\b(?:recontactez|recontacter|revenez\s+vers|relancez|relancer|reparle|reparler)\b|\bce\s+n'est\s+pas\s+le\s+(?:bon\s+)?moment\b|\bl'annee\s+prochaine\b|\bpas\s+de\s+budget\b|\b(?:dans|d'ici)\s+(?:quelques|deux|trois|six|\d+)\s+(?:semaines|mois)\b|\bplus\s+tard\b|\b(?:trimestre|semestre)\s+prochain\b|\bau\s+(?:premier|deuxieme|second|troisieme|quatrieme)\s+trimestre\b|\bapres\s+les\s+fetes\b`),
	r("nicht jetzt", `\bpasst\s+es\s+(?:zeitlich\s+)?(?:gerade\s+|leider\s+|momentan\s+|aktuell\s+)?nicht\b|\b(?:im|in)\s+(?:ersten|zweiten|dritten|vierten|\d\.)\s+quartal\b|\bnoch\s+(?:einmal|mal)\s+(?:melden|auf\s+mich\s+zu)\b|\b(?:derzeit|momentan|aktuell|zurzeit|im\s+moment|gerade)\s+(?:ist\s+)?(?:kein(?:en)?\s+bedarf|nicht\s+der|kein\s+budget)\b|\bandere\s+prioritaten\b|\b(?:melden|kommen)\s+sie\s+(?:sich\s+)?(?:gerne\s+|gern\s+|bitte\s+)?(?:im|in|nach|nachstes|nachsten|wieder|nochmal|noch\s+einmal|erneut)\b|\b(?:nicht\s+der\s+richtige\s+zeitpunkt|kein\s+guter\s+zeitpunkt)\b|\bvielleicht\s+im\s+(?:fruhjahr|sommer|herbst|winter|nachsten|neuen)\b|\bnachstes\s+jahr\b|\bim\s+(?:nachsten|kommenden)\s+(?:jahr|quartal|monat)\b|\bbudget\b.{0,40}\b(?:ausgeschopft|aufgebraucht|verplant)\b|\bnach\s+(?:weihnachten|den\s+feiertagen|der\s+sommerpause|dem\s+urlaub|neujahr)\b|\bin\s+(?:ein\s+paar|einigen|zwei|drei|sechs|\d+)\s+(?:wochen|monaten)\b`),
	r("ahora no", `\bahora\s+mismo\s+no\b|\bhablemos\s+(?:en|el|despues|mas\s+adelante)\b|\b(?:ahora|en\s+este\s+momento|por\s+ahora|de\s+momento|por\s+el\s+momento|ahorita)\s+no\b|\bno\s+es\s+(?:el|un)\s+(?:buen\s+)?momento\b|\bmas\s+adelante\b|\b(?:el|en\s+el)\s+(?:proximo|siguiente)\s+(?:trimestre|ano|mes|semestre)\b|\bel\s+ano\s+que\s+viene\b|\b(?:vuelva|vuelve|volver)\s+a\s+(?:contactarme|escribirme|contactar|escribir|llamar)\b|\b(?:contacteme|contactame|escribame|escribeme|llameme)\s+(?:de\s+nuevo|otra\s+vez|en|el|dentro|despues|mas)\b|\bdentro\s+de\s+(?:unos|unas|\d+|dos|tres|seis)\s+(?:semanas|meses)\b|\b(?:sin|no\s+tenemos)\s+presupuesto\b|\bdespues\s+(?:del|de\s+las?)\s+(?:verano|fiestas|navidad|vacaciones)\b`),
}

// An immediate ask ("call me at 3", "can you talk today") makes a "not
// now" a positive reply: "Not now - in a meeting. Call me at 3?"
var rightAway = []rule{
	r("right away", `\bcall\s+me\s+(?:at|on|now|today|tomorrow|back)\b|\bcan\s+(?:you|we)\s+(?:talk|chat|call|meet|speak)\s+(?:today|now|tomorrow|this\s+(?:afternoon|morning|week))\b|\b(?:talk|call|meet)\s+today\b`),
}

// Delivery-failure evidence.
var (
	bounceSubject = regexp.MustCompile(`^(?:undeliverable|undelivered|undeliverable mail|mail delivery (?:failed|failure|system|subsystem)|delivery status notification|returned mail|failure notice|delivery (?:has )?failed|delivery failure|delivery notification: delivery has failed|message not delivered|message rejected|message blocked|mail system error|warning: message delayed|non remis|non distribuable|impossible de remettre|echec de (?:la )?distribution|unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|no se puede entregar|no entregado|mensaje no entregado|error de entrega|notificacion de estado de entrega)\b`)
	bounceRules   = []rule{
		r("delivery failure", `\b(?:could\s+not|couldn'?t|cannot|can'?t|was\s+not|wasn'?t|did\s+not)\s+(?:be\s+)?(?:delivered|reach\s+(?:some\s+or\s+all|the\s+intended))\b|\bdelivery\s+(?:to\s+.{1,40}?\s+)?(?:has\s+)?failed\b|\bfailed\s+permanently\b|\bpermanently\s+failed\b|\bundeliverable\b|\bmail\s+delivery\s+(?:failed|subsystem|system|software)\b|\baddress\s+not\s+found\b|\bmessage\s+not\s+delivered\b`),
		r("delivery failure", `\b(?:user|recipient|mailbox|address)\s+(?:unknown|not\s+found|unavailable|does\s+not\s+exist|is\s+full|full|rejected)\b|\bno\s+such\s+user\b|\bno\s+mailbox\s+here\b|\brecipient\s+address\s+rejected\b|\baccount\s+(?:that\s+you\s+tried\s+to\s+reach\s+)?does\s+not\s+exist\b|\b(?:e-?mail\s+)?account\s+does\s+not\s+exist\b|\bmailbox\s+(?:is\s+)?full\b|\bquota\s+exceeded\b|\b(?:account|mailbox)\s+(?:has\s+been\s+|is\s+)?(?:closed|disabled|deactivated|suspended|inactive)\b`),
		r("delivery failure", `\bpermanent\s+(?:fatal\s+)?error|\bmessage\s+(?:was\s+)?(?:rejected|blocked)\b|\bhas\s+been\s+blocked\b|\bdelivery\s+to\s+the\s+following\s+recipients?\b|\bthe\s+following\s+(?:address(?:es)?|recipients?)\b.{0,40}(?:failed|had\s+permanent|cannot\s+be\s+reached|delayed)|\bremote\s+server\s+returned\b|\bthis\s+is\s+the\s+mail\s+system\s+at\s+host\b|\bqmail-send\b|\bwas\s+undeliverable\b|\bmessage\s+will\s+be\s+retried\b|\bhas\s+been\s+delayed\b|\bdelivery\s+error\b|\bwasn'?t\s+found\s+at\b|\bdiagnostic[\s-](?:code|information)\b`),
		r("delivery failure", `\b[245]\d\d[\s-]+[245]\.\d{1,3}\.\d{1,3}\b|\(#5\.\d\.\d\)|\bresolver\.adr\.`),
		r("échec de remise", `\bn'a\s+pas\s+pu\s+etre\s+(?:remis|distribue|livre)\b|\bnon\s+remis\b|\best\s+introuvable\b|\badresse\s+inconnue\b`),
		r("Unzustellbar", `\bkonnte\s+(?:an\s+.{0,40})?nicht\s+zugestellt\s+werden\b|\bunzustellbar\b|\bpostfach\s+(?:nicht\s+vorhanden|voll|ist\s+voll)\b|\bnicht\s+gefunden\b`),
		r("no entregado", `\bno\s+se\s+(?:ha\s+)?(?:pudo|podido|puede)\s+entregar\b|\bno\s+pudo\s+ser\s+entregado\b|\bno\s+se\s+encontro\s+a\b|\bel\s+buzon\s+(?:de\s+correo\s+)?(?:no\s+existe|esta\s+lleno)\b|\bdireccion\s+.{0,60}\bya\s+no\s+existe\b`),
	}
)

var (
	daemonLocal = regexp.MustCompile(`^(?:mailer-daemon|postmaster|mail-daemon|maildaemon|microsoftexchange[0-9a-f]{20,}|bounces?|mailerdaemon)$`)
	noReply     = regexp.MustCompile(`^(?:no-?reply|do-?not-?reply|donotreply|noreply|no_reply|auto-?reply|autoresponder|notifications?)(?:[+._-].*)?$`)
	replyPrefix = regexp.MustCompile(`^(?:(?:re|aw|sv|vs|ref|rif|tr|wg|fw|fwd|rv|r)\s*(?:\[\d+\])?\s*:\s*)+`)
	emailRe     = regexp.MustCompile(`[a-z0-9][a-z0-9._%+'-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+`)
	oooSubject  = regexp.MustCompile(`(?i)^(auto(matic)?[ -]?(reply|response|antwort)|automatische antwort|out of (the )?office|ooo\b|away\b|away from (the )?office|abwesen|absent|absence|r[ée]ponse automatique|respuesta autom[aá]tica|fuera de la oficina|ausente|on vacation|on leave|on (parental|maternity|paternity|annual) leave|vacation|urlaub|cong[ée]s|fermeture|travell?ing\b)`)
)

// autoHeaders applies COMPLIANCE.md 19 to the headers and subject.
func autoHeaders(h mail.Header, subject string) bool {
	if h != nil {
		if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
			return true
		}
		if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
			return true
		}
		if p := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); p == "auto_reply" {
			return true
		}
	}
	return oooSubject.MatchString(strings.TrimSpace(subject))
}

func senderLocal(h mail.Header) (local, addr string) {
	if h == nil {
		return "", ""
	}
	a, err := mail.ParseAddress(h.Get("From"))
	if err != nil {
		return "", ""
	}
	addr = strings.ToLower(a.Address)
	local, _, _ = strings.Cut(addr, "@")
	return local, addr
}

func quote(s string) string { return strconv.Quote(s) }

// classifyAt is ClassifyReply. now is used when h has no Date.
func classifyAt(subject, text string, h mail.Header, now time.Time, sms bool) Classification {
	newText := NewText(text)
	if len(newText) > 16<<10 {
		newText = newText[:16<<10]
	}
	f := fold(newText)
	fs := f.s
	subj := strings.TrimSpace(decodeHeader(subject))
	fsubj := replyPrefix.ReplaceAllString(foldString(subj), "")
	local, from := senderLocal(h)
	c := Classification{Lang: detectLang(fsubj + "\n" + fs)}
	c.Auto = autoHeaders(h, subj) || noReply.MatchString(local) || daemonLocal.MatchString(local)
	sent := now
	if h != nil {
		if t, err := mail.ParseDate(h.Get("Date")); err == nil && (now.IsZero() || !t.After(now.Add(24*time.Hour))) {
			sent = t
		}
	}
	// Without a reference day no date is read (the package has no clock).
	dates := !sent.IsZero()
	found := func(cl Class, m match, fsrc *folded, prefix string) Classification {
		c.Class = cl
		c.Match = fsrc.span(m.start, m.end)
		c.Reason = prefix + m.why + ": " + quote(c.Match)
		return c
	}
	ours := ourAddresses(h)

	// Delivery failures first: their text quotes everything else.
	if !sms {
		full := fold(truncate(text, 8<<10))
		var hits []match
		for _, x := range bounceRules {
			if m, ok := first(full.s, []rule{x}); ok {
				hits = append(hits, m)
			}
		}
		daemon := daemonLocal.MatchString(local)
		if daemon || bounceSubject.MatchString(fsubj) || len(hits) >= 2 || (len(hits) == 1 && c.Auto) {
			c.Class = ClassBounce
			c.FailedRecipient = failedRecipient(full.s, ours)
			switch {
			case len(hits) > 0:
				c.Match = full.span(hits[0].start, hits[0].end)
				c.Reason = "delivery failure: " + quote(c.Match)
			case daemon:
				c.Match = from
				c.Reason = "delivery failure: sent by " + from
			default:
				c.Match = subj
				c.Reason = "delivery failure subject: " + quote(subj)
			}
			if c.FailedRecipient == "" && !daemon {
				c.FailedRecipient = from
			}
			return c
		}
	}

	c.Referral = referral(fs, nil, from, ours)
	if m, ok := first(fs, optOutRules); ok {
		return found(ClassOptOut, m, f, "")
	}
	if optOutSubject.MatchString(fsubj) {
		c.Class, c.Match = ClassOptOut, subj
		c.Reason = "opt-out request in the subject: " + quote(subj)
		return c
	}
	absence, okA := first(fs, oooAbsence)
	wp, okWP := first(fs, wrongPersonRules)
	if !okWP && !okA {
		wp, okWP = first(fs, referralRules)
	}
	if okWP {
		c = found(ClassWrongPerson, wp, f, "")
		c.Referral = referral(fs, h, from, ours)
		return c
	}
	_, okR := first(fs, oooReturn)
	coping, okC := first(fs, oooCoping)
	var until Date
	var phrase string
	if dates && (okA || okR || okC || c.Auto) {
		until, phrase = ParseReturnDate(subj+"\n"+newText, sent)
	}
	okR = okR || !until.IsZero()
	families := btoi(okA) + btoi(okR) + btoi(okC)
	ooo := func(why string) Classification {
		c.Class = ClassOutOfOffice
		c.Until, c.UntilPhrase = until, phrase
		switch {
		case okA:
			c.Match = f.span(absence.start, absence.end)
		case okC:
			c.Match = f.span(coping.start, coping.end)
		default:
			c.Match = subj
		}
		c.Reason = why + ": " + quote(c.Match)
		if !until.IsZero() {
			c.Reason += ", back " + until.String()
		}
		return c
	}
	if c.Auto {
		// "If urgent, call us" alone is any autoresponder.
		if okA || okR || oooSubject.MatchString(subj) {
			return ooo("out-of-office notice")
		}
		if m, ok := first(fs, autoRules); ok {
			return found(ClassAutoReply, m, f, "automatic reply, ")
		}
		c.Class, c.Match = ClassAutoReply, subj
		c.Reason = "automatic reply (headers or subject): " + quote(subj)
		return c
	}
	nn, okNN := first(fs, notNowRules)
	if okNN && anyMatch(fs, rightAway) {
		okNN = false
	}
	if families >= 2 && okA && !okNN && !anyMatch(fs, humanTell) {
		return ooo("out-of-office notice")
	}
	autoM, okAuto := first(fs, autoRules)
	if families >= 2 && !okA && okC && okR && !okNN && !okAuto && !anyMatch(fs, humanTell) {
		return ooo("out-of-office notice")
	}
	if okAuto {
		return found(ClassAutoReply, autoM, f, "")
	}
	if okNN {
		c = found(ClassNotNow, nn, f, "")
		if dates {
			c.Until, c.UntilPhrase = followUpDate(f, sent, c.Lang)
		}
		return c
	}
	c.Class = ClassPositive
	c.Reason = "human reply: no opt-out, out-of-office, automatic, not-now or wrong-person rule matched"
	return c
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ourAddresses are the addresses the reply was sent to (our sender) — never
// a referral or the failed recipient.
func ourAddresses(h mail.Header) map[string]bool {
	m := map[string]bool{}
	if h == nil {
		return m
	}
	if l, err := h.AddressList("To"); err == nil {
		for _, a := range l {
			m[strings.ToLower(a.Address)] = true
		}
	}
	return m
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// referral picks the address the message points to: the first in the new
// text that is not the sender's or ours, else a Cc (or a To at the
// sender's own domain) that is not the sender.
func referral(fs string, h mail.Header, from string, ours map[string]bool) string {
	for _, a := range emailRe.FindAllString(fs, -1) {
		a = strings.TrimRight(a, ".")
		if a == from || ours[a] && domainOf(a) != domainOf(from) || daemonLocal.MatchString(strings.SplitN(a, "@", 2)[0]) {
			continue
		}
		return a
	}
	if h == nil {
		return ""
	}
	for _, field := range []string{"Cc", "To"} {
		l, err := h.AddressList(field)
		if err != nil {
			continue
		}
		for _, a := range l {
			addr := strings.ToLower(a.Address)
			if addr == from || (field == "To" && domainOf(addr) != domainOf(from)) {
				continue
			}
			return addr
		}
	}
	return ""
}

// failedRecipient is the first address in a bounce's text that is not a
// daemon's or ours.
func failedRecipient(fs string, ours map[string]bool) string {
	for _, a := range emailRe.FindAllString(fs, -1) {
		a = strings.TrimRight(a, ".")
		local, _, _ := strings.Cut(a, "@")
		if ours[a] || daemonLocal.MatchString(local) || noReply.MatchString(local) {
			continue
		}
		return a
	}
	return ""
}
