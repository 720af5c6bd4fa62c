package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signatures follow the Standard Webhooks specification (standardwebhooks.com): a signed
// request carries webhook-id (the job ID, the same on every attempt), webhook-timestamp
// (the attempt's time in Unix seconds) and webhook-signature, a space-separated list of
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per secret.

// Secret formats and limits.
const (
	secretPrefix = "whsec_"
	// minSecretLen and maxSecretLen bound a decoded secret, as the specification recommends.
	minSecretLen = 24
	maxSecretLen = 64
	// maxSecrets bounds the secrets of one message: enough for any rotation.
	maxSecrets = 10
	// DefaultTolerance is how far a webhook-timestamp may be from the receiver's clock when
	// [Verify] is given no tolerance.
	DefaultTolerance = 5 * time.Minute
)

// ErrInvalidSignature is wrapped by every error [Verify] returns.
var ErrInvalidSignature = errors.New("webhook: invalid signature")

// NewSecret returns a new random signing secret for [Message.Secrets]: "whsec_" and the
// base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// decodeSecret returns the key of a "whsec_" secret. Errors never quote the secret.
func decodeSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New(`must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New(`must be "whsec_" followed by standard base64`)
	}
	if len(key) < minSecretLen || len(key) > maxSecretLen {
		return nil, fmt.Errorf("must decode to %d to %d bytes, not %d", minSecretLen, maxSecretLen, len(key))
	}
	return key, nil
}

// validateSecrets adds a problem for each of a message's secrets that is not a valid "whsec_"
// secret, and one if there are too many.
func validateSecrets(secrets []string, ps *problems) {
	if len(secrets) > maxSecrets {
		ps.add("secrets", "more than %d secrets", maxSecrets)
	}
	for i, s := range secrets {
		if _, err := decodeSecret(s); err != nil {
			ps.add(fmt.Sprintf("secrets[%d]", i), "%v", err)
		}
	}
}

// Sign returns the webhook-signature header value of a request with the given webhook-id,
// webhook-timestamp and body: "v1,<signature>" for each secret, separated by spaces, so that
// a receiver that knows any one of the secrets can verify it. It returns an error wrapping
// ErrInvalid if a secret is not "whsec_" followed by the base64 of 24 to 64 bytes, or if
// there are no secrets.
func Sign(secrets []string, id string, timestamp time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", invalidf("webhook: sign: no secrets")
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			return "", invalidf("webhook: sign: secret %d %v", i, err)
		}
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

// mac is the HMAC-SHA256 of "id.timestamp.body".
func mac(key []byte, id string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a signed webhook request as a receiver: that its webhook-timestamp is within
// tolerance of now (either way; 0 means [DefaultTolerance]) and that one of the v1
// signatures in webhook-signature was made with one of secrets over its webhook-id,
// webhook-timestamp and body. Several secrets let a receiver accept the old and the new one
// while rotating. Signatures are compared in constant time.
//
// It returns nil if the request is authentic, and otherwise an error wrapping
// ErrInvalidSignature that says what is wrong (missing header, stale timestamp, no matching
// signature) and never quotes a secret or a signature. Use it before acting on the body:
//
//	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
//	if err := webhook.Verify(secrets, r.Header, body, time.Now(), 0); err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
func Verify(secrets []string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id := header.Get("Webhook-Id")
	tsText := header.Get("Webhook-Timestamp")
	sigText := header.Get("Webhook-Signature")
	if id == "" || tsText == "" || sigText == "" {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature", ErrInvalidSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not a number of seconds", ErrInvalidSignature)
	}
	tolerance = orDefault(tolerance, DefaultTolerance)
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: webhook-timestamp %s is more than %v from now", ErrInvalidSignature, sent.UTC().Format(time.RFC3339), tolerance)
	}
	var keys [][]byte
	for _, s := range secrets {
		if key, err := decodeSecret(s); err == nil {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: no valid secret to verify with", ErrInvalidSignature)
	}
	for _, key := range keys {
		want := mac(key, id, ts, body)
		for _, sig := range strings.Fields(sigText) {
			enc, ok := strings.CutPrefix(sig, "v1,")
			if !ok {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(enc)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrInvalidSignature)
}
