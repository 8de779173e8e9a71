package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/tokens"
)

// Sessions.
//
// A session is a cookie signed with Config.SessionKey, so every replica
// built with the same key accepts every other's cookies and a restart logs
// nobody out. It names the token it logged in with (name and a fingerprint
// of the secret: removing or rotating the token ends its sessions) and a
// random session id.
//
// Logging out revokes that session id in Redis until the session would
// have expired (store.RevokeSession), so a copied cookie is refused on
// every replica from then on. We revoke one session rather than bump a
// per-token epoch because a token name is often shared (one "ops" token
// for a team, or one person on a laptop and a phone): one of them logging
// out should not log the others out. To end every session of a token at
// once — it leaked — rotate or remove the token.
//
// Checking revocation costs one Redis EXISTS per request; when Redis does
// not answer, the request is refused with an error page (fail closed).

const (
	cookieName      = "nurture_session"
	sessionLifetime = 12 * time.Hour
	sessionKind     = "dashboard-session-v1"

	// Failed logins are counted per client address in Redis, so every
	// replica sees the same count; past the limit the address is refused
	// until the window, which starts at its first failure, ends.
	loginFailLimit  = 10
	loginFailWindow = 5 * time.Minute
)

// sessionKeyLabel must never change: a different label derives a
// different key and logs every user out.
const sessionKeyLabel = "nurture dashboard session v1"

// SessionKey derives the dashboard's session-signing key from the
// deployment's link-token key (NURTURE_TOKEN_KEY): HMAC-SHA256(tokenKey,
// "nurture dashboard session v1"). Every replica derives the same key,
// and it differs from the link-token key, so no link token is ever a
// valid session cookie or the other way round. Rotating the token key
// logs every user out.
func SessionKey(tokenKey []byte) []byte {
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte(sessionKeyLabel))
	return m.Sum(nil)
}

// credential is a configured token as sessions see it.
type credential struct {
	name string
	role server.Role
	fp   string
}

// fingerprint names a token secret in a session without revealing it:
// the first 8 bytes of HMAC-SHA256(sessionKey, label || secret), in hex.
// The label keeps fingerprints apart from the signer's MACs made with the
// same key.
func fingerprint(sessionKey []byte, secret string) string {
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte("token fingerprint\x00"))
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Session payload: v1|sid|fingerprint|csrf|expiry (unix s)|name. The name
// is last so that it may contain "|".
func (d *Dashboard) newSession(c credential) (*Session, string) {
	s := &Session{Name: c.name, Role: c.role, CSRF: tokens.RandomHex(16), id: tokens.RandomHex(16), expires: d.sessionNow().Add(sessionLifetime).Truncate(time.Second)}
	payload := strings.Join([]string{"v1", s.id, c.fp, s.CSRF, strconv.FormatInt(s.expires.Unix(), 10), c.name}, "|")
	return s, d.signer.Sign(sessionKind, payload)
}

// sessionNow is the time sessions expire by.
func (d *Dashboard) sessionNow() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// session returns the request's session, nil when there is none or it is
// invalid, expired, for a token no longer configured, or logged out. An
// error means revocation could not be checked: the caller must refuse
// the request.
func (d *Dashboard) session(r *http.Request) (*Session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	payload, err := d.signer.Verify(sessionKind, c.Value)
	if err != nil {
		return nil, nil
	}
	parts := strings.SplitN(payload, "|", 6)
	if len(parts) != 6 || parts[0] != "v1" {
		return nil, nil
	}
	sid, fp, csrf, name := parts[1], parts[2], parts[3], parts[5]
	exp, err := strconv.ParseInt(parts[4], 10, 64)
	if err != nil || !d.sessionNow().Before(time.Unix(exp, 0)) {
		return nil, nil
	}
	var cred *credential
	for i := range d.creds {
		if d.creds[i].name == name && d.creds[i].fp == fp {
			cred = &d.creds[i]
			break
		}
	}
	if cred == nil || (cred.role != server.RoleAdmin && cred.role != server.RoleSales) {
		return nil, nil // token removed, rotated, or now an inbound-only token
	}
	revoked, err := d.st.SessionRevoked(r.Context(), sid)
	if err != nil {
		return nil, fmt.Errorf("session revocation check: %w", err)
	}
	if revoked {
		return nil, nil
	}
	// The role is the token's role now, not at login.
	return &Session{Name: name, Role: cred.role, CSRF: csrf, id: sid, expires: time.Unix(exp, 0)}, nil
}

// loginOriginOK refuses a login form posted from another site (login
// CSRF: being logged in as the attacker). Browsers send Origin on POST;
// an old one may send only Referer; a client sending neither (curl) is
// not a browser being abused and is let through.
func loginOriginOK(r *http.Request) bool {
	if r.Header.Get("Origin") != "" {
		return sameOrigin(r)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && u.Host == r.Host
	}
	return true
}

// clientAddr is the address failed logins are counted against: the TCP
// peer, or with Config.TrustProxy the last X-Forwarded-For entry (the one
// the proxy in front of us appended; earlier entries are whatever the
// client claimed). IPv6 addresses count per /64, which one host usually
// has whole.
func (d *Dashboard) clientAddr(r *http.Request) string {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if d.cfg.TrustProxy {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			list := strings.Split(v[len(v)-1], ",")
			last := strings.TrimSpace(list[len(list)-1])
			if host, _, err := net.SplitHostPort(last); err == nil {
				last = host
			}
			if _, err := netip.ParseAddr(last); err == nil {
				addr = last
			}
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		if len(addr) > 64 {
			addr = addr[:64]
		}
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

type loginData struct {
	page
	Error string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, "login", loginData{page: d.page(r, nil, "Log in")})
}

func (d *Dashboard) loginError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	d.render(w, r, status, "login", loginData{page: d.page(r, nil, "Log in"), Error: msg})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if !loginOriginOK(r) {
		d.loginError(w, r, http.StatusForbidden, "Cross-origin login refused: log in from this site's own login page.")
		return
	}
	ctx := r.Context()
	client := d.clientAddr(r)
	failed, left, err := d.st.LoginFailures(ctx, client)
	if err != nil {
		d.fail(w, r, nil, err, "Logging in is not possible right now.")
		return
	}
	if failed >= loginFailLimit {
		d.tooManyLogins(w, r, left)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		d.loginError(w, r, http.StatusBadRequest, "The login form could not be read.")
		return
	}
	secret := r.PostForm.Get("token")
	if secret != "" {
		for i, t := range d.cfg.Tokens {
			if subtle.ConstantTimeCompare([]byte(secret), []byte(t.Secret)) == 1 {
				if t.Role != server.RoleAdmin && t.Role != server.RoleSales {
					d.loginError(w, r, http.StatusForbidden, "This token is for the inbound email relay; it cannot open the dashboard. Use a sales or admin token.")
					return
				}
				_, value := d.newSession(d.creds[i])
				http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/", HttpOnly: true, Secure: d.cfg.Secure,
					SameSite: http.SameSiteStrictMode, MaxAge: int(sessionLifetime / time.Second)})
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
		}
	}
	if _, err := d.st.CountLoginFailure(ctx, client, loginFailWindow); err != nil {
		d.fail(w, r, nil, err, "Logging in is not possible right now.")
		return
	}
	d.loginError(w, r, http.StatusUnauthorized, "Unknown token.")
}

// tooManyLogins answers 429 until the address's failure window ends.
func (d *Dashboard) tooManyLogins(w http.ResponseWriter, r *http.Request, left time.Duration) {
	secs := int(math.Ceil(left.Seconds()))
	if secs < 1 {
		secs = 1
	}
	wait := fmt.Sprintf("%d seconds", secs)
	if secs > 90 {
		wait = fmt.Sprintf("%d minutes", (secs+59)/60)
	}
	at := time.Now().Add(time.Duration(secs) * time.Second).UTC().Format("15:04:05 UTC")
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	d.loginError(w, r, http.StatusTooManyRequests,
		fmt.Sprintf("Too many failed logins from your address. Try again in %s (after %s).", wait, at))
}

// logout revokes the session on every replica, then drops the cookie.
// Other sessions of the same token stay logged in (see the top of this
// file).
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := d.st.RevokeSession(r.Context(), s.id, s.expires); err != nil {
		d.fail(w, r, s, err, "Logging out did not work; try again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: d.cfg.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
