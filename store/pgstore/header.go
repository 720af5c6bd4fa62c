package pgstore

import (
	"net/http"
	"slices"
	"unicode/utf8"
)

// headerJSON returns h as JSON that json.Unmarshal reads back into the same header as it
// reads json.Marshal's JSON of h, an object of arrays of strings with its keys in order, or
// nil for a nil header, which is stored as NULL. A finish writes two headers for every
// attempt, and json.Marshal's reflection and sorting through interfaces were a measurable
// part of its work (docs/performance.md, item 18). Like json.Marshal, it writes invalid
// UTF-8 as U+FFFD, so that the bytes are valid JSON text in UTF-8 for whoever reads the
// column; unlike it, it escapes control characters only as \u00XX and leaves <, >, &, U+2028
// and U+2029 as they are, which JSON allows.
func headerJSON(h http.Header) []byte {
	if h == nil {
		return nil
	}
	var buf [32]string // most headers' keys, without an allocation
	keys := buf[:0]
	size := 2
	for k, vs := range h {
		keys = append(keys, k)
		size += len(k) + 6
		for _, v := range vs {
			size += len(v) + 3
		}
	}
	slices.Sort(keys)
	b := append(make([]byte, 0, size), '{')
	for _, k := range keys {
		b = append(appendJSONString(b, k), ':')
		b = append(appendJSONStrings(b, h[k]), ',')
	}
	return endJSON(b, '}')
}

// appendJSONStrings appends vs to b as a JSON array of strings, or null if it is nil.
func appendJSONStrings(b []byte, vs []string) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for _, v := range vs {
		b = append(appendJSONString(b, v), ',')
	}
	return endJSON(b, ']')
}

// endJSON ends the object or array in b with c, in place of the comma after its last
// member if it has one.
func endJSON(b []byte, c byte) []byte {
	if b[len(b)-1] == ',' {
		b[len(b)-1] = c
		return b
	}
	return append(b, c)
}

// appendJSONString appends s to b as a JSON string: quotes, backslashes and control
// characters escaped, and each byte of invalid UTF-8 written as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			if c == '"' || c == '\\' {
				b = append(b, '\\', c)
			} else {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
