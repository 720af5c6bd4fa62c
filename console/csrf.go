package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// csrf makes and checks the token that every form of the console posts, on top of
// http.CrossOriginProtection: a browser gets a random cookie, and each form carries the HMAC
// of the cookie's value under the console's key, so that a page of another site can neither
// read the token nor make one that matches a cookie it cannot read.
type csrf struct {
	key []byte
}

// csrfCookie is the name of the console's cookie.
const csrfCookie = "webhook_console_csrf"

// token returns the token of r's cookie, setting a new cookie on w, for the console at base,
// if r has none.
func (c *csrf) token(w http.ResponseWriter, r *http.Request, base string) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && ck.Value != "" {
		return c.sign(ck.Value)
	}
	var b [18]byte
	rand.Read(b[:]) // never returns an error
	value := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: value, Path: base + "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return c.sign(value)
}

// valid reports whether r's form carries the token of r's cookie.
func (c *csrf) valid(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.sign(ck.Value)))
}

// sign returns the token of a cookie's value.
func (c *csrf) sign(value string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
