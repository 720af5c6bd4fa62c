package webhook

import (
	"crypto/rand"
	"encoding/json"
	"time"
)

// crockford is Crockford's base32 alphabet, lower-cased.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// newID returns prefix + "_" + 26 characters that sort by t's millisecond and are unique
// with 80 random bits, in the manner of a ULID.
func newID(prefix string, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	rand.Read(b[6:]) // never returns an error
	out := make([]byte, 0, len(prefix)+27)
	out = append(out, prefix...)
	out = append(out, '_')
	// 128 bits as 26 base32 digits, the first holding the top 3 bits.
	var acc, bits uint
	acc, bits = 0, 2 // pad to 130 bits
	for _, c := range b {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, crockford[(acc>>bits)&31])
		}
	}
	return string(out)
}

// jobKey returns the dedupe key of the job of a message to a user for one occurrence
// (an event, a campaign run, a Send call). It is unambiguous whatever the parts hold.
func jobKey(messageID, userID, occurrence string) string {
	b, _ := json.Marshal([3]string{messageID, userID, occurrence}) // strings always encode
	return string(b)
}
