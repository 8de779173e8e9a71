// Command gen writes the labelled reply corpus (inbound/testdata/replies)
// from the hand-written messages in inbound/testdata/corpus/*.txt.
//
// Only the envelope is generated: headers, the MIME structure and transfer
// encoding, and the quoted history that mail clients append (our own
// outbound email, unsubscribe footer included). What the person wrote is
// taken verbatim from the source files. Run from the module root:
//
//	go run ./inbound/testdata/gen
//
// Source format, one block per message:
//
//	### <id> [style=S] [person=N] [date=2026-12-08T14:12] [return=YYYY-MM-DD] [referral=ADDR]
//	Optional-Header: value        (Subject and From override the defaults)
//
//	body…
//
// The label is the source file's name (opt_out.txt → opt_out); a "round2-",
// "round3-" or "blind-" prefix names the set (see corpus/README.md); the id's first
// two letters are the language (en, fr, de, es). Placeholders:
// {first} {name} {company} {domain} {rep} {repname} {repemail}.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type person struct {
	name, email, company string
	zone                 int // UTC offset, minutes
}

var people = map[string][]person{
	"en": {
		{"Dana Whitfield", "dana.whitfield@brightlane.io", "Brightlane", -300},
		{"Marcus Oyelaran", "marcus@tallyworks.com", "Tallyworks", -360},
		{"Priya Raman", "priya.raman@northwind-logistics.com", "Northwind Logistics", -480},
		{"Kevin O'Donnell", "kodonnell@ridgeway.co.uk", "Ridgeway", 0},
		{"Aisha Khan", "aisha.khan@clearpath.com.au", "Clearpath", 660},
		{"Tom Becker", "tbecker@acmefreight.us", "Acme Freight", -300},
		{"Rachel Gold", "rachel@loomstack.com", "Loomstack", -480},
		{"Siobhan Walsh", "siobhan.walsh@kestrelhealth.ie", "Kestrel Health", 0},
		{"Jamal Price", "jprice@meridiancu.org", "Meridian Credit Union", -360},
		{"Emily Zhang", "emily.zhang@orbitalsaas.com", "Orbital", -420},
	},
	"fr": {
		{"Camille Lefèvre", "camille.lefevre@atelier-verne.fr", "Atelier Verne", 60},
		{"Julien Moreau", "j.moreau@groupe-sorel.fr", "Groupe Sorel", 60},
		{"Sophie Nguyen", "sophie.nguyen@lumen-conseil.fr", "Lumen Conseil", 60},
		{"Mathieu Girard", "mgirard@logistiquebelair.ca", "Logistique Bélair", -300},
		{"Élodie Martin", "elodie.martin@fromagerie-alpine.ch", "Fromagerie Alpine", 60},
	},
	"de": {
		{"Jonas Schneider", "j.schneider@brandt-logistik.de", "Brandt Logistik", 60},
		{"Katrin Müller", "katrin.mueller@vogel-it.de", "Vogel IT", 60},
		{"Stefan Huber", "stefan.huber@alpentech.at", "Alpentech", 60},
		{"Lena Fischer", "lena.fischer@nordkraft-energie.de", "Nordkraft Energie", 60},
		{"Matthias Weber", "m.weber@weber-partner.ch", "Weber & Partner", 60},
	},
	"es": {
		{"Lucía Fernández", "lucia.fernandez@grupoaltamar.es", "Grupo Altamar", 60},
		{"Javier Ortega", "jortega@logisur.com.mx", "Logisur", -360},
		{"Carmen Ruiz", "carmen.ruiz@innova-salud.es", "Innova Salud", 60},
		{"Diego Herrera", "dherrera@andesdata.cl", "Andes Data", -180},
		{"Valentina Gómez", "vgomez@cafeteracentral.com.co", "Cafetera Central", -300},
	},
}

var reps = map[string]person{
	"en": {"Sam Carter", "sam@fieldnote.io", "Fieldnote", -480},
	"fr": {"Léa Fontaine", "lea.fontaine@fieldnote.io", "Fieldnote", 60},
	"de": {"Jan Hoffmann", "jan.hoffmann@fieldnote.io", "Fieldnote", 60},
	"es": {"Marta Salas", "marta.salas@fieldnote.io", "Fieldnote", 60},
}

// Our outbound emails, as they appear in the quoted history. Each carries
// the unsubscribe footer a careless parser would read as an opt-out.
var originals = map[string][]struct{ subject, body string }{
	"en": {
		{"Quick question about no-shows at {company}", "Hi {first},\n\nTeams like {company} usually lose one booked demo in five to no-shows. Fieldnote sends the reminders and reschedules over email and SMS, so your reps don't have to.\n\nWould a 15-minute look next week be useful?\n\nBest,\n{repname}\nAccount Executive, Fieldnote\n\nFieldnote Inc., 548 Market St #3344, San Francisco, CA 94104\nNot interested? Unsubscribe: https://fieldnote.io/u/{token}"},
		{"{first}, 15 minutes next week?", "Hi {first},\n\nFollowing up on my note from last week. I put together a two-minute video on how Loomstack cut their no-show rate from 22% to 9%: https://fieldnote.io/v/loomstack\n\nIf it's not a priority, just let me know and I'll stop following up.\n\n{repname}\n\n--\nFieldnote Inc., 548 Market St #3344, San Francisco, CA 94104\nYou are receiving this because you work in sales operations. Unsubscribe: https://fieldnote.io/u/{token}"},
		{"Following up: demo reminders for {company}", "Hi {first},\n\nLast one from me for now. Happy to send over pricing or set up a trial for your team, whichever is easier.\n\nCheers,\n{repname}\n\nFieldnote Inc. | 548 Market St #3344, San Francisco, CA 94104\nTo stop receiving these emails, unsubscribe here: https://fieldnote.io/u/{token}"},
	},
	"fr": {
		{"Une question sur les rendez-vous manqués chez {company}", "Bonjour {first},\n\nLes équipes comme {company} perdent en moyenne un rendez-vous sur cinq. Fieldnote envoie les rappels et replanifie par e-mail et SMS.\n\nSeriez-vous disponible 15 minutes la semaine prochaine ?\n\nBien à vous,\n{repname}\nFieldnote\n\nFieldnote SAS, 12 rue de la Paix, 75002 Paris\nVous ne souhaitez plus recevoir nos e-mails ? Se désinscrire : https://fieldnote.io/u/{token}"},
	},
	"de": {
		{"Kurze Frage zu No-Shows bei {company}", "Hallo {first},\n\nTeams wie {company} verlieren im Schnitt jeden fünften Termin. Fieldnote verschickt Erinnerungen und plant automatisch per E-Mail und SMS um.\n\nHätten Sie nächste Woche 15 Minuten Zeit?\n\nViele Grüße\n{repname}\nFieldnote\n\nFieldnote GmbH, Torstraße 109, 10119 Berlin\nSie möchten keine E-Mails mehr von uns erhalten? Abmelden: https://fieldnote.io/u/{token}"},
	},
	"es": {
		{"Una pregunta sobre las citas perdidas en {company}", "Hola {first}:\n\nEquipos como {company} pierden una de cada cinco citas. Fieldnote envía los recordatorios y reprograma por correo y SMS.\n\n¿Tendría 15 minutos la próxima semana?\n\nSaludos,\n{repname}\nFieldnote\n\nFieldnote S.L., Calle de Alcalá 48, 28014 Madrid\n¿No desea recibir más correos? Darse de baja: https://fieldnote.io/u/{token}"},
	},
}

type msg struct {
	id, class, lang, style string
	personIdx              int
	date                   time.Time
	headers                [][2]string
	body                   string
	expReturn, expReferral string
}

func main() {
	root := "inbound/testdata"
	files, err := filepath.Glob(filepath.Join(root, "corpus", "*.txt"))
	if err != nil || len(files) == 0 {
		fatal(fmt.Errorf("no corpus sources under %s/corpus (run from the module root): %v", root, err))
	}
	sort.Strings(files)
	out := filepath.Join(root, "replies")
	if err := os.RemoveAll(out); err != nil {
		fatal(err)
	}
	var manifest []string
	seen := map[string]bool{}
	for _, f := range files {
		class := strings.TrimSuffix(filepath.Base(f), ".txt")
		set := "dev"
		for _, s := range []string{"round2", "round3", "blind"} {
			if c, ok := strings.CutPrefix(class, s+"-"); ok {
				class, set = c, s
			}
		}
		msgs, err := readSource(f, class)
		if err != nil {
			fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(out, class), 0o755); err != nil {
			fatal(err)
		}
		for i, m := range msgs {
			if seen[m.id] {
				fatal(fmt.Errorf("%s: duplicate id %s", f, m.id))
			}
			seen[m.id] = true
			raw, p := render(m, i)
			name := filepath.Join(class, m.id+".eml")
			if err := os.WriteFile(filepath.Join(out, name), raw, 0o644); err != nil {
				fatal(err)
			}
			ref := expand(m.expReferral, p, reps[m.lang])
			manifest = append(manifest, strings.Join([]string{name, class, m.lang, m.style, orDash(m.expReturn), orDash(ref), set}, "\t"))
		}
	}
	hdr := "# file\tclass\tlang\tstyle\treturn_on\treferral\tset  (generated by inbound/testdata/gen from inbound/testdata/corpus/*.txt; set: see inbound/testdata/corpus/README.md)\n"
	if err := os.WriteFile(filepath.Join(out, "MANIFEST.tsv"), []byte(hdr+strings.Join(manifest, "\n")+"\n"), 0o644); err != nil {
		fatal(err)
	}
	fmt.Printf("wrote %d messages\n", len(manifest))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func readSource(path, class string) ([]msg, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []msg
	blocks := strings.Split("\n"+string(b), "\n### ")
	for _, blk := range blocks[1:] {
		head, rest, _ := strings.Cut(blk, "\n")
		f := strings.Fields(head)
		if len(f) == 0 {
			return nil, fmt.Errorf("%s: block without an id", path)
		}
		m := msg{id: f[0], class: class, lang: f[0][:2], personIdx: -1}
		if _, ok := people[m.lang]; !ok {
			return nil, fmt.Errorf("%s: %s: id must start with en, fr, de or es", path, m.id)
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "style":
				m.style = v
			case "person":
				fmt.Sscan(v, &m.personIdx)
			case "date":
				m.date, err = time.Parse("2006-01-02T15:04", v)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %v", path, m.id, err)
				}
			case "return":
				m.expReturn = v
			case "referral":
				m.expReferral = v
			default:
				return nil, fmt.Errorf("%s: %s: unknown key %q", path, m.id, k)
			}
		}
		lines := strings.Split(rest, "\n")
		i := 0
		for ; i < len(lines) && headerLine.MatchString(lines[i]); i++ {
			k, v, _ := strings.Cut(lines[i], ":")
			m.headers = append(m.headers, [2]string{k, strings.TrimSpace(v)})
		}
		m.body = strings.Trim(strings.Join(lines[i:], "\n"), "\n") + "\n"
		if m.style == "" {
			m.style = defaultStyle(class, len(out))
		}
		if !knownStyle[m.style] {
			return nil, fmt.Errorf("%s: %s: unknown style %q", path, m.id, m.style)
		}
		out = append(out, m)
	}
	return out, nil
}

// headerLine is a header given in a source block, right under its ### line.
var headerLine = regexp.MustCompile(`^(Subject|From|Cc|Auto-Submitted|Precedence|X-[A-Za-z-]+): `)

var humanStyles = []string{"gmail", "outlook", "apple", "gmail", "outlook-ios", "thunderbird", "outlook-classic", "html-only", "mixed", "base64", "bare", "apple-html"}

var knownStyle = map[string]bool{}

func init() {
	for _, s := range humanStyles {
		knownStyle[s] = true
	}
	for _, s := range []string{"ooo-exchange", "ooo-gmail", "ooo-plain", "auto-helpdesk", "auto-plain", "bounce-exchange", "bounce-daemon", "bounce-gmail", "bounce-plain"} {
		knownStyle[s] = true
	}
}

func defaultStyle(class string, i int) string {
	switch class {
	case "out_of_office":
		return []string{"ooo-exchange", "ooo-gmail", "ooo-plain", "ooo-exchange", "ooo-gmail"}[i%5]
	case "auto_reply":
		return []string{"auto-helpdesk", "auto-plain", "auto-helpdesk"}[i%3]
	case "bounce_in_disguise":
		return []string{"bounce-exchange", "bounce-daemon", "bounce-gmail", "bounce-plain"}[i%4]
	}
	return humanStyles[i%len(humanStyles)]
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func expand(s string, p, rep person) string {
	first, _, _ := strings.Cut(p.name, " ")
	repFirst, _, _ := strings.Cut(rep.name, " ")
	_, domain, _ := strings.Cut(p.email, "@")
	return strings.NewReplacer("{first}", first, "{name}", p.name, "{company}", p.company, "{domain}", domain,
		"{rep}", repFirst, "{repname}", rep.name, "{repemail}", rep.email).Replace(s)
}

// render builds the raw message. i is the message's index in its file.
func render(m msg, i int) ([]byte, person) {
	pool := people[m.lang]
	pi := m.personIdx
	if pi < 0 {
		pi = int(hash(m.id) % uint32(len(pool)))
	}
	p := pool[pi%len(pool)]
	rep := reps[m.lang]
	zone := time.FixedZone("", p.zone*60)
	date := m.date
	if date.IsZero() {
		h := hash(m.id + "date")
		date = time.Date(2026, 11, 16, 8, 0, 0, 0, time.UTC).AddDate(0, 0, int(h%63)).Add(time.Duration(h%600) * time.Minute)
	}
	date = time.Date(date.Year(), date.Month(), date.Day(), date.Hour(), date.Minute(), int(hash(m.id)%60), 0, zone)
	origs := originals[m.lang]
	orig := origs[int(hash(m.id+"orig"))%len(origs)]
	token := fmt.Sprintf("%08x", hash(m.id+"tok")) + "Qz" + fmt.Sprintf("%08x", hash(m.id+"tok2"))[:6]
	x := func(s string) string {
		return strings.ReplaceAll(expand(s, p, rep), "{token}", token)
	}
	origSubject, origBody := x(orig.subject), x(orig.body)
	origDate := date.Add(-time.Duration(20+hash(m.id+"od")%4000) * time.Minute).In(time.FixedZone("", rep.zone*60))
	if m.lang == "en" {
		origDate = origDate.In(zone)
	}
	body := x(m.body)
	h := &headers{}
	fromAddr := mail.Address{Name: p.name, Address: p.email}
	subject := "Re: " + origSubject
	if m.lang == "de" {
		subject = "AW: " + origSubject
	}
	if m.lang == "es" && hash(m.id)%2 == 0 {
		subject = "RE: " + origSubject
	}
	origID := fmt.Sprintf("<e%d.s%d.%x@mail.fieldnote.io>", hash(m.id)%9000+1000, hash(m.id+"s")%9+1, hash(m.id+"mid"))
	var mimeBody []byte
	var ctype string
	st := m.style
	switch {
	case strings.HasPrefix(st, "ooo-"), strings.HasPrefix(st, "auto-"):
		switch st {
		case "ooo-exchange":
			subject = map[string]string{"en": "Automatic reply: ", "fr": "Réponse automatique : ", "de": "Automatische Antwort: ", "es": "Respuesta automática: "}[m.lang] + origSubject
			h.add("Auto-Submitted", "auto-generated")
			h.add("X-Auto-Response-Suppress", "All")
			h.add("X-MS-Exchange-Inbox-Rules-Loop", p.email)
			ctype, mimeBody = alternative(m.id, body, paragraphsHTML(body), "quoted-printable")
		case "ooo-gmail":
			h.add("Auto-Submitted", "auto-replied")
			ctype, mimeBody = alternative(m.id, body, paragraphsHTML(body), "quoted-printable")
		case "ooo-plain":
			ctype, mimeBody = single("text/plain", "utf-8", body, "8bit")
		case "auto-helpdesk":
			fromAddr = mail.Address{Name: p.company + " Support", Address: "support@" + strings.SplitN(p.email, "@", 2)[1]}
			subject = fmt.Sprintf("[#%d] %s", 40000+hash(m.id)%9000, subject)
			h.add("Auto-Submitted", "auto-replied")
			h.add("X-Mailer", "Zendesk Mailer")
			ctype, mimeBody = alternative(m.id, body, paragraphsHTML(body), "quoted-printable")
		case "auto-plain":
			ctype, mimeBody = single("text/plain", "utf-8", body, "quoted-printable")
		}
	case strings.HasPrefix(st, "bounce-"):
		domain := strings.SplitN(p.email, "@", 2)[1]
		switch st {
		case "bounce-exchange":
			fromAddr = mail.Address{Name: "Microsoft Outlook", Address: fmt.Sprintf("MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@%s", domain)}
			subject = "Undeliverable: " + origSubject
			h.add("Auto-Submitted", "auto-replied")
			ctype, mimeBody = mixedWithOriginal(m.id, body, rep, p, origSubject, origBody, origID, origDate)
		case "bounce-daemon":
			fromAddr = mail.Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON@mx1." + domain}
			subject = "Undelivered Mail Returned to Sender"
			ctype, mimeBody = single("text/plain", "us-ascii", body, "7bit")
		case "bounce-gmail":
			fromAddr = mail.Address{Name: "Mail Delivery Subsystem", Address: "mailer-daemon@googlemail.com"}
			subject = "Delivery Status Notification (Failure)"
			h.add("Auto-Submitted", "auto-replied")
			ctype, mimeBody = alternative(m.id, body, paragraphsHTML(body), "quoted-printable")
		case "bounce-plain":
			ctype, mimeBody = single("text/plain", "utf-8", body, "8bit")
		}
	default:
		ctype, mimeBody = humanReply(m, body, p, rep, origSubject, origBody, origDate)
	}
	for _, kv := range m.headers {
		switch strings.ToLower(kv[0]) {
		case "subject":
			subject = x(kv[1])
		case "from":
			a, err := mail.ParseAddress(x(kv[1]))
			if err != nil {
				fatal(fmt.Errorf("%s: From: %v", m.id, err))
			}
			fromAddr = *a
		}
	}
	var buf bytes.Buffer
	w := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	w("From", fromAddr.String())
	w("To", (&mail.Address{Name: rep.name, Address: rep.email}).String())
	w("Subject", encodeHeader(subject, m.style))
	w("Date", date.Format(time.RFC1123Z))
	w("Message-ID", fmt.Sprintf("<%x.%x@%s>", hash(m.id+"m1"), hash(m.id+"m2"), mailHost(m.style, fromAddr.Address)))
	if !strings.HasPrefix(st, "bounce-daemon") && !strings.HasPrefix(st, "bounce-gmail") {
		w("In-Reply-To", origID)
		w("References", origID)
	}
	for _, kv := range h.kv {
		w(kv[0], kv[1])
	}
	for _, kv := range m.headers {
		if k := strings.ToLower(kv[0]); k != "subject" && k != "from" {
			w(kv[0], x(kv[1]))
		}
	}
	w("MIME-Version", "1.0")
	buf.WriteString(ctype)
	buf.WriteString("\r\n")
	buf.Write(mimeBody)
	return buf.Bytes(), p
}

type headers struct{ kv [][2]string }

func (h *headers) add(k, v string) { h.kv = append(h.kv, [2]string{k, v}) }

func mailHost(style, from string) string {
	switch {
	case strings.HasPrefix(style, "gmail"), style == "mixed", style == "base64":
		return "mail.gmail.com"
	case strings.HasPrefix(style, "outlook"), strings.HasPrefix(style, "ooo-exchange"):
		return "EUR03.PROD.OUTLOOK.COM"
	case strings.HasPrefix(style, "apple"):
		return "icloud.com"
	}
	if _, d, ok := strings.Cut(from, "@"); ok {
		return d
	}
	return "localhost"
}

func encodeHeader(s, style string) string {
	for _, r := range s {
		if r > 127 {
			if strings.HasPrefix(style, "outlook") {
				return mime.BEncoding.Encode("utf-8", s)
			}
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// encode applies a Content-Transfer-Encoding to text.
func encode(text, cte string) []byte {
	text = crlf(text)
	switch cte {
	case "base64":
		e := base64.StdEncoding.EncodeToString([]byte(text))
		var b strings.Builder
		for len(e) > 76 {
			b.WriteString(e[:76] + "\r\n")
			e = e[76:]
		}
		b.WriteString(e + "\r\n")
		return []byte(b.String())
	case "quoted-printable":
		var b bytes.Buffer
		qw := quotedprintable.NewWriter(&b)
		qw.Write([]byte(text))
		qw.Close()
		return append(b.Bytes(), '\r', '\n')
	}
	return []byte(text)
}

func latin1(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 256:
			b.WriteByte(byte(r))
		case r == '€':
			b.WriteByte(0x80)
		case r == '’':
			b.WriteByte(0x92)
		case r == '–':
			b.WriteByte(0x96)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

func single(mt, charset, text, cte string) (string, []byte) {
	return fmt.Sprintf("Content-Type: %s; charset=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n", mt, charset, cte), encode(text, cte)
}

func boundary(id, salt string) string {
	return fmt.Sprintf("000000000000%08x%04x", hash(id+salt), hash(salt)%0xffff)
}

func alternative(id, plain, html, cte string) (string, []byte) {
	b := boundary(id, "alt")
	var buf bytes.Buffer
	for _, p := range []struct{ mt, s string }{{"text/plain", plain}, {"text/html", html}} {
		fmt.Fprintf(&buf, "--%s\r\nContent-Type: %s; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: %s\r\n\r\n", b, p.mt, cte)
		buf.Write(encode(p.s, cte))
	}
	fmt.Fprintf(&buf, "--%s--\r\n", b)
	return fmt.Sprintf("Content-Type: multipart/alternative; boundary=\"%s\"\r\n", b), buf.Bytes()
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&quot;").Replace(s)
}

func paragraphsHTML(text string) string {
	var b strings.Builder
	b.WriteString("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><style>p{margin:0}</style></head><body>")
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		b.WriteString("<p>" + strings.ReplaceAll(escapeHTML(para), "\n", "<br>\n") + "</p>\n<p>&nbsp;</p>\n")
	}
	b.WriteString("</body></html>")
	return b.String()
}

func quoteLines(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l == "" {
			b.WriteString(">\n")
		} else {
			b.WriteString("> " + l + "\n")
		}
	}
	return b.String()
}

var weekdays = map[string][]string{
	"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	"fr": {"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
	"de": {"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
	"es": {"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
}
var months = map[string][]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	"de": {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	"es": {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
}

func abbr(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// attribution is the "On … wrote:" line a client puts above the quote.
func attribution(style, lang string, rep person, d time.Time) string {
	wd, mo := weekdays[lang][d.Weekday()], months[lang][d.Month()-1]
	clock := d.Format("15:04")
	if lang == "en" {
		clock = d.Format("3:04 PM")
	}
	who := fmt.Sprintf("%s <%s>", rep.name, rep.email)
	switch style {
	case "apple", "apple-html":
		switch lang {
		case "fr":
			return fmt.Sprintf("Le %d %s. %d à %s, %s a écrit :", d.Day(), abbr(mo, 4), d.Year(), clock, who)
		case "de":
			return fmt.Sprintf("Am %s um %s schrieb %s:", d.Format("02.01.2006"), clock, who)
		case "es":
			return fmt.Sprintf("El %d %s %d, a las %s, %s escribió:", d.Day(), abbr(mo, 3), d.Year(), clock, who)
		}
		return fmt.Sprintf("On %s %d, %d, at %s, %s wrote:", abbr(mo, 3), d.Day(), d.Year(), clock, who)
	case "thunderbird":
		switch lang {
		case "fr":
			return fmt.Sprintf("Le %s à %s, %s a écrit :", d.Format("02/01/2006"), clock, rep.name)
		case "de":
			return fmt.Sprintf("Am %s um %s schrieb %s:", d.Format("02.01.06"), clock, rep.name)
		case "es":
			return fmt.Sprintf("El %d/%d/%s a las %s, %s escribió:", d.Day(), d.Month(), d.Format("06"), clock, rep.name)
		}
		return fmt.Sprintf("On %d/%d/%s %s, %s wrote:", d.Month(), d.Day(), d.Format("06"), clock, rep.name)
	}
	switch lang {
	case "fr":
		return fmt.Sprintf("Le %s %d %s %d à %s, %s a écrit :", abbr(wd, 3)+".", d.Day(), abbr(mo, 4)+".", d.Year(), clock, who)
	case "de":
		return fmt.Sprintf("Am %s., %d. %s %d um %s Uhr schrieb %s:", abbr(wd, 2), d.Day(), abbr(mo, 3)+".", d.Year(), clock, who)
	case "es":
		return fmt.Sprintf("El %s, %d %s %d a las %s, %s (<%s>) escribió:", abbr(wd, 3), d.Day(), abbr(mo, 3), d.Year(), clock, rep.name, rep.email)
	}
	return fmt.Sprintf("On %s, %s %d, %d at %s %s wrote:", abbr(wd, 3), abbr(mo, 3), d.Day(), d.Year(), clock, who)
}

// wrap72 breaks a long attribution the way Gmail's plain-text part does.
func wrap72(s string) string {
	if len(s) <= 76 {
		return s
	}
	if i := strings.LastIndex(s[:76], " "); i > 0 {
		return s[:i] + "\n" + s[i+1:]
	}
	return s
}

// outlookHeader is the From/Sent/To/Subject block Outlook puts above the
// unindented original.
func outlookHeader(lang string, rep, p person, subject string, d time.Time) string {
	wd, mo := weekdays[lang][d.Weekday()], months[lang][d.Month()-1]
	from := fmt.Sprintf("%s <%s>", rep.name, rep.email)
	to := fmt.Sprintf("%s <%s>", p.name, p.email)
	switch lang {
	case "fr":
		return fmt.Sprintf("De : %s\nEnvoyé : %s %d %s %d %s\nÀ : %s\nObjet : %s\n", from, wd, d.Day(), mo, d.Year(), d.Format("15:04"), to, subject)
	case "de":
		return fmt.Sprintf("Von: %s\nGesendet: %s, %d. %s %d %s\nAn: %s\nBetreff: %s\n", from, wd, d.Day(), mo, d.Year(), d.Format("15:04"), to, subject)
	case "es":
		return fmt.Sprintf("De: %s\nEnviado el: %s, %d de %s de %d %s\nPara: %s\nAsunto: %s\n", from, wd, d.Day(), mo, d.Year(), d.Format("15:04"), to, subject)
	}
	return fmt.Sprintf("From: %s\nSent: %s, %s %d, %d %s\nTo: %s\nSubject: %s\n", from, wd, mo, d.Day(), d.Year(), d.Format("3:04 PM"), to, subject)
}

func outlookHeaderHTML(lang string, rep, p person, subject string, d time.Time) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(outlookHeader(lang, rep, p, subject, d)), "\n") {
		k, v, _ := strings.Cut(l, ":")
		b.WriteString("<b>" + escapeHTML(k) + ":</b>" + escapeHTML(v) + "<br>\n")
	}
	return b.String()
}

var mobileSig = map[string]map[string]string{
	"apple":       {"en": "Sent from my iPhone", "fr": "Envoyé de mon iPhone", "de": "Von meinem iPhone gesendet", "es": "Enviado desde mi iPhone"},
	"outlook-ios": {"en": "Get Outlook for iOS", "fr": "Obtenir Outlook pour iOS", "de": "Outlook für iOS beziehen", "es": "Obtener Outlook para iOS"},
}

var disclaimer = map[string]string{
	"en": "CONFIDENTIALITY NOTICE: This email and any attachments are confidential and intended solely for the addressee. If you are not the intended recipient, please notify the sender immediately and delete this message.",
	"fr": "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention exclusive de ses destinataires. Si vous avez reçu ce message par erreur, merci de le détruire et d'en avertir immédiatement l'expéditeur.",
	"de": "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie bitte sofort den Absender und vernichten Sie diese E-Mail.",
	"es": "Este mensaje y sus anexos son confidenciales y están dirigidos exclusivamente a su destinatario. Si usted no es el destinatario indicado, le rogamos que lo comunique al remitente y proceda a su eliminación.",
}

func corporateSig(p person, lang string, withDisclaimer bool) string {
	title := map[string]string{"en": "Director of Operations", "fr": "Directrice des opérations", "de": "Leitung Vertrieb", "es": "Directora comercial"}[lang]
	s := fmt.Sprintf("%s\n%s | %s\n%s\n", p.name, title, p.company, p.email)
	if withDisclaimer {
		s += "\n" + disclaimer[lang] + "\n"
	}
	return s
}

func humanReply(m msg, body string, p, rep person, origSubject, origBody string, origDate time.Time) (string, []byte) {
	lang := m.lang
	h := hash(m.id + "sig")
	attr := attribution(m.style, lang, rep, origDate)
	bodyHTML := func(s string) string {
		var b strings.Builder
		for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
			b.WriteString("<div dir=\"ltr\">" + strings.ReplaceAll(escapeHTML(para), "\n", "<br>") + "</div><div><br></div>")
		}
		return b.String()
	}
	origHTML := strings.ReplaceAll(escapeHTML(origBody), "\n", "<br>\n")
	switch m.style {
	case "gmail", "mixed", "base64":
		plain := body + "\n" + wrap72(attr) + "\n\n" + quoteLines(origBody)
		html := "<div dir=\"ltr\">" + bodyHTML(body) + "</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">" + escapeHTML(attr) + "<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">" + origHTML + "</blockquote></div>"
		switch m.style {
		case "base64":
			return single("text/plain", "UTF-8", plain, "base64")
		case "mixed":
			alt := boundary(m.id, "alt")
			mix := boundary(m.id, "mix")
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", mix, alt)
			fmt.Fprintf(&buf, "--%s\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", alt)
			buf.Write(encode(plain, "quoted-printable"))
			fmt.Fprintf(&buf, "--%s\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", alt)
			buf.Write(encode(html, "quoted-printable"))
			fmt.Fprintf(&buf, "--%s--\r\n", alt)
			name := []string{"screenshot.png", "Q1-plan.pdf", "org-chart.pdf"}[h%3]
			mt := map[bool]string{true: "image/png", false: "application/pdf"}[strings.HasSuffix(name, ".png")]
			fmt.Fprintf(&buf, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", mix, mt, name, name)
			buf.Write(encode(fmt.Sprintf("%%PDF-1.4 fake attachment for %s, not a real file", m.id), "base64"))
			fmt.Fprintf(&buf, "--%s--\r\n", mix)
			return fmt.Sprintf("Content-Type: multipart/mixed; boundary=\"%s\"\r\n", mix), buf.Bytes()
		}
		return alternative(m.id, plain, html, "quoted-printable")
	case "outlook", "outlook-ios":
		sig := corporateSig(p, lang, h%3 == 0)
		cte := "quoted-printable"
		if m.style == "outlook-ios" {
			sig = mobileSig["outlook-ios"][lang] + "\n"
			cte = "base64"
		}
		hdr := outlookHeader(lang, rep, p, origSubject, origDate)
		plain := body + "\n" + sig + "\n________________________________\n" + hdr + "\n" + origBody
		html := "<html><body><div style=\"font-family:Aptos,Calibri,sans-serif\">" + bodyHTML(body) + "<div>" + strings.ReplaceAll(escapeHTML(sig), "\n", "<br>") + "</div></div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\" tabindex=\"-1\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" style=\"font-size:11pt\" color=\"#000000\">" + outlookHeaderHTML(lang, rep, p, origSubject, origDate) + "</font><div>&nbsp;</div></div><div>" + origHTML + "</div></body></html>"
		return alternative(m.id, plain, html, cte)
	case "outlook-classic":
		sep := map[string]string{"en": "-----Original Message-----", "fr": "-----Message d'origine-----", "de": "-----Ursprüngliche Nachricht-----", "es": "-----Mensaje original-----"}[lang]
		plain := body + "\n" + corporateSig(p, lang, h%2 == 0) + "\n" + sep + "\n" + outlookHeader(lang, rep, p, origSubject, origDate) + "\n" + origBody
		if lang == "en" {
			return single("text/plain", "us-ascii", strings.ReplaceAll(plain, "’", "'"), "7bit")
		}
		return single("text/plain", "iso-8859-1", latin1(plain), "quoted-printable")
	case "apple":
		plain := body + "\n" + mobileSig["apple"][lang] + "\n\n" + attr + "\n\n" + quoteLines(origBody)
		return single("text/plain", "utf-8", plain, "quoted-printable")
	case "apple-html":
		plain := body + "\n" + attr + "\n\n" + quoteLines(origBody)
		html := "<html><head></head><body dir=\"auto\">" + bodyHTML(body) + "<div dir=\"ltr\"><br><blockquote type=\"cite\">" + escapeHTML(attr) + "<br><br>" + origHTML + "</blockquote></div></body></html>"
		return alternative(m.id, plain, html, "quoted-printable")
	case "thunderbird":
		plain := body + "\n-- \n" + corporateSig(p, lang, false) + "\n" + attr + "\n" + quoteLines(origBody)
		return single("text/plain", "UTF-8", plain, "8bit")
	case "html-only":
		html := "<html><body><div>" + bodyHTML(body) + "</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">" + escapeHTML(attr) + "</div><blockquote class=\"gmail_quote\">" + origHTML + "</blockquote></div></body></html>"
		return single("text/html", "UTF-8", html, "quoted-printable")
	case "bare":
		return single("text/plain", "UTF-8", body, "8bit")
	}
	fatal(fmt.Errorf("%s: style %s", m.id, m.style))
	return "", nil
}

// mixedWithOriginal is a non-DSN bounce: text, then our message attached.
func mixedWithOriginal(id, text string, rep, p person, subject, body, origID string, d time.Time) (string, []byte) {
	b := boundary(id, "ndr")
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "--%s\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", b)
	buf.Write(encode(text, "quoted-printable"))
	fmt.Fprintf(&buf, "--%s\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n", b)
	orig := fmt.Sprintf("From: %s <%s>\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\nContent-Type: text/plain; charset=utf-8\n\n%s", rep.name, rep.email, p.email, subject, d.Format(time.RFC1123Z), origID, body)
	buf.Write(encode(orig, "8bit"))
	fmt.Fprintf(&buf, "\r\n--%s--\r\n", b)
	return fmt.Sprintf("Content-Type: multipart/mixed; boundary=\"%s\"\r\n", b), buf.Bytes()
}
