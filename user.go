package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Map holds user attributes and event parameters. Its values follow the JSON data model: nil,
// bool, string, int64, float64, []any and map[string]any. The Sender converts what it is given
// to that model (any Go integer becomes int64, a float64 without a fractional part becomes
// int64, a time.Time becomes an RFC 3339 string, a struct becomes what encoding/json makes of
// it), so values read back from a durable Store are the values that were saved and templates
// render them the same way on every Store.
type Map map[string]any

// UnmarshalJSON decodes a JSON object into m in the same model the Sender uses: whole numbers
// become int64 and other numbers float64. Store adapters that keep maps as JSON rely on it.
func (m *Map) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if floatExact(b) {
		// The common case, decoded in one pass without a Decoder's buffer: every number is a
		// float64 that ParseFloat of its json.Number would give too.
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return err
		}
	}
	if err := normalizeDecodedMap(raw, 0); err != nil {
		return err
	}
	*m = raw // nil for null
	return nil
}

// floatExact reports whether decoding the JSON b with float64 numbers gives each number the
// value that decoding it as a json.Number and normalizing gives: whether no number in b has an
// exponent (which may overflow, an error the two paths word differently) and no whole number
// in it is 2^53 or more in magnitude (which ParseInt keeps exact and a float64 may round).
// Numbers with a fraction are parsed by ParseFloat on both paths.
func floatExact(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"': // skip the string, and the escaped characters in it
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '-' || '0' <= c && c <= '9':
			j := i
			if c == '-' {
				j++
			}
			start := j
			for j < len(b) && '0' <= b[j] && b[j] <= '9' {
				j++
			}
			whole := b[start:j]
			fraction := j < len(b) && b[j] == '.'
			for j < len(b) && (b[j] == '.' || '0' <= b[j] && b[j] <= '9') {
				j++
			}
			if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
				return false
			}
			// 2^53 = 9007199254740992 has 16 digits; JSON numbers have no leading zeros.
			if !fraction && (len(whole) > 16 || len(whole) == 16 && string(whole) >= "9007199254740992") {
				return false
			}
			i = j - 1
		}
	}
	return true
}

// normalizeDecodedMap brings m, decoded by encoding/json (numbers as json.Number or
// float64), to the JSON data model in place: it does what normalizeMap does, without copying what is already in it.
func normalizeDecodedMap(m map[string]any, depth int) error {
	for k, v := range m {
		nv, err := normalizeDecoded(v, depth+1)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		m[k] = nv
	}
	return nil
}

// normalizeDecoded is normalizeValue of v, a value decoded by encoding/json with UseNumber,
// made in place: its maps become Maps and its lists are reused.
func normalizeDecoded(v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxValueDepth)
	}
	switch v := v.(type) {
	case map[string]any:
		if err := normalizeDecodedMap(v, depth); err != nil {
			return nil, err
		}
		return Map(v), nil
	case []any:
		for i, e := range v {
			ne, err := normalizeDecoded(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			v[i] = ne
		}
		return v, nil
	}
	return normalizeValue(v, depth) // a number, string, bool or nil
}

// maxValueDepth bounds the nesting of attribute and parameter values, so that a cyclic map
// is an error and not a stack overflow.
const maxValueDepth = 32

// normalizeMap returns a deep copy of m in the JSON data model (see Map).
func normalizeMap[M ~map[string]any](m M, depth int) (Map, error) {
	if m == nil {
		return nil, nil
	}
	out := make(Map, len(m))
	for k, v := range m {
		nv, err := normalizeValue(v, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = nv
	}
	return out, nil
}

func normalizeValue(v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxValueDepth)
	}
	switch v := v.(type) {
	case nil, bool, string, int64:
		return v, nil
	case int:
		return int64(v), nil
	case float64:
		return normalizeFloat(v)
	case float32:
		return normalizeFloat(float64(v))
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("invalid number %q", string(v))
		}
		return normalizeFloat(f)
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case map[string]any:
		return normalizeMap(v, depth)
	case Map:
		return normalizeMap(v, depth)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			ne, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = ne
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return float64(u), nil
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		return normalizeFloat(rv.Float())
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			break // []byte: encoding/json makes a base64 string of it
		}
		out := make([]any, rv.Len())
		for i := range out {
			ne, err := normalizeValue(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = ne
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			ne, err := normalizeValue(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", it.Key().String(), err)
			}
			out[it.Key().String()] = ne
		}
		return out, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
	case reflect.Func, reflect.Chan, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return nil, fmt.Errorf("a %T cannot be an attribute or parameter value", v)
	}
	// Anything else (structs, pointers, types with MarshalJSON) becomes what encoding/json
	// makes of it.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return normalizeValue(out, depth)
}

// maxExactFloat is the largest magnitude below which every whole float64 is an exact integer.
const maxExactFloat = 1 << 53

func normalizeFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a JSON number", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < maxExactFloat {
		return int64(f), nil
	}
	return f, nil
}

// User is a person a message can be sent to. Host apps save users with [Sender.Identify], or
// implement [UserStore] over their own tables.
type User struct {
	// ID identifies the user in the host app. Required.
	ID string `json:"id"`
	// Email is the user's email address, if known.
	Email string `json:"email,omitempty"`
	// TimeZone is the user's IANA time zone name, such as "Europe/Berlin".
	TimeZone string `json:"time_zone,omitempty"`
	// Locale is the user's locale, such as "en-US".
	Locale string `json:"locale,omitempty"`
	// Country, Region and City locate the user. Country is an ISO 3166-1 alpha-2 code.
	Country string `json:"country,omitempty"`
	Region  string `json:"region,omitempty"`
	City    string `json:"city,omitempty"`
	// Test marks a test user, for sending a campaign to testers before the whole audience.
	Test bool `json:"test,omitempty"`
	// CreatedAt is when the user was first seen. Identify keeps the stored value when this is
	// zero, and uses the Clock's time for a new user.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// LastActive is when the user was last active in the host app.
	LastActive time.Time `json:"last_active,omitzero"`
	// Attributes are the user's custom attributes, available to templates as userAttribute.
	Attributes Map `json:"attributes,omitempty"`
}

// Event is something a user did in the host app, reported with [Sender.Trigger].
type Event struct {
	// ID identifies the event. If set, a second Trigger with the same ID and user enqueues no
	// jobs that the first one enqueued, which makes Trigger safe to retry. If empty,
	// Trigger assigns a new ID.
	ID string `json:"id,omitempty"`
	// UserID is the user who did it. Required.
	UserID string `json:"user_id"`
	// Name is the event's name, such as "purchase". Required.
	Name string `json:"name"`
	// Params are the event's parameters, available to templates as parameter.
	Params Map `json:"params,omitempty"`
	// Time is when it happened. Defaults to the Clock's time.
	Time time.Time `json:"time,omitzero"`
}
