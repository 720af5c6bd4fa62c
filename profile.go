package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ProfileUpdate is how a message's response updates the user's profile (Message.UpdateProfile),
// as Iterable's "Update User Profile" webhook does: a GET (or any method) whose JSON response
// is merged into the user's attributes. After each attempt whose response is 2xx, the
// response body must be a JSON value: by default an object, each of whose members sets the
// attribute of its name; with Map, each rule sets one attribute from one part of the
// response. A null value removes the attribute, as in a JSON merge patch (RFC 7396).
//
// The attributes are saved with the attempt, in the same Store change (see
// [Finished].User), so the next rendering and the next audience check see them. A response
// that is not JSON, is not an object when it is merged whole, or is larger than MaxBytes
// fails the job for good, with an attempt whose error says why; a rule whose Path the response
// does not have sets nothing.
type ProfileUpdate struct {
	// Map, if not empty, lists the attributes to set, at most 100. Defaults to none: the
	// whole response object is merged.
	Map []ProfileRule `json:"map,omitempty"`
	// MaxBytes bounds the response body read and merged. Defaults to 64 KiB; at most 1 MiB.
	MaxBytes int `json:"max_bytes,omitempty"`
}

// ProfileRule sets one attribute from a part of a response (see [ProfileUpdate]).
type ProfileRule struct {
	// Path locates the part as a JSON Pointer (RFC 6901), such as "/data/plan" or "/items/0";
	// "" is the whole response.
	Path string `json:"path"`
	// Attribute is the name of the attribute to set. Required.
	Attribute string `json:"attribute"`
}

// Limits of ProfileUpdate.
const (
	defaultProfileBytes = 64 << 10
	maxProfileBytes     = 1 << 20
	maxProfileRules     = 100
)

// validate adds the problems of p, if it is not nil, to ps.
func (p *ProfileUpdate) validate(ps *problems) {
	if p == nil {
		return
	}
	if p.MaxBytes < 0 || p.MaxBytes > maxProfileBytes {
		ps.add("update_profile.max_bytes", "must be from 0 to %d, got %d", maxProfileBytes, p.MaxBytes)
	}
	if len(p.Map) > maxProfileRules {
		ps.add("update_profile.map", "more than %d rules", maxProfileRules)
	}
	for i, r := range p.Map {
		path := fmt.Sprintf("update_profile.map[%d]", i)
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			ps.add(path+".path", "%q is not a JSON Pointer: it starts with '/', as in /data/plan", r.Path)
		}
		if r.Attribute == "" {
			ps.add(path+".attribute", "required")
		}
	}
}

// maxBytes returns MaxBytes with its default applied.
func (p *ProfileUpdate) maxBytes() int { return orDefault(p.MaxBytes, defaultProfileBytes) }

// apply returns the update of the user's attributes that body, a whole response, makes.
func (p *ProfileUpdate) apply(userID string, body []byte) (*UserUpdate, error) {
	if len(body) > p.maxBytes() {
		return nil, fmt.Errorf("update profile: the response is larger than %d bytes (UpdateProfile.MaxBytes)", p.maxBytes())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	err := dec.Decode(&doc)
	if err == nil && dec.More() {
		err = errors.New("more than one value")
	}
	if err != nil {
		return nil, fmt.Errorf("update profile: the response is not JSON: %v", err)
	}
	up := &UserUpdate{User: User{ID: userID, Attributes: Map{}}}
	set := func(name string, v any) error {
		if v == nil {
			up.Unset = append(up.Unset, name)
			return nil
		}
		nv, err := normalizeValue(v, 1)
		if err != nil {
			return fmt.Errorf("update profile: attribute %q: %v", name, err)
		}
		up.User.Attributes[name] = nv
		return nil
	}
	if len(p.Map) == 0 {
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("update profile: the response is %s, not an object", jsonKind(doc))
		}
		for name, v := range obj {
			if err := set(name, v); err != nil {
				return nil, err
			}
		}
		return up, nil
	}
	for _, r := range p.Map {
		if v, ok := pointer(doc, r.Path); ok {
			if err := set(r.Attribute, v); err != nil {
				return nil, err
			}
		}
	}
	return up, nil
}

// pointer returns the value at the JSON Pointer path in doc, and whether doc has one.
func pointer(doc any, path string) (any, bool) {
	if path == "" {
		return doc, true
	}
	for _, token := range strings.Split(path[1:], "/") {
		token = strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
		switch v := doc.(type) {
		case map[string]any:
			var ok bool
			if doc, ok = v[token]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(v) || token != strconv.Itoa(i) {
				return nil, false
			}
			doc = v[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// jsonKind names the JSON type of a decoded value, for errors.
func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "an object"
}

// Response is the response to an attempt, as [Config].OnResponse sees it.
type Response struct {
	// JobID, MessageID, UserID and Variant are those of the attempt (see [Attempt]).
	JobID     string
	MessageID string
	UserID    string
	Variant   string
	// Attempt is the attempt's number, from 1.
	Attempt int
	// Test is set for the response to a test send ([Sender.TestSend]).
	Test bool
	// StatusCode and Header are the response's.
	StatusCode int
	Header     http.Header
	// Body is the response body, read up to the larger of Config.MaxResponseBody and the
	// message's UpdateProfile.MaxBytes. Truncated reports that there was more.
	Body      []byte
	Truncated bool
}

// readLimit returns how many bytes of a response body an attempt at a job of cm reads: what
// the attempt log keeps, or more for UpdateProfile and Config.OnResponse, and one more byte,
// to tell a body that is too large.
func (x *executor) readLimit(cm *compiledMessage) int {
	n := x.maxBody
	if cm != nil && cm.msg.UpdateProfile != nil {
		n = max(n, cm.msg.UpdateProfile.maxBytes())
	}
	return n + 1
}

// afterResponse acts on the 2xx response to an attempt: it asks Config.OnResponse about it and
// reads the profile update that the message's UpdateProfile makes of it, which report saves
// with the attempt. It returns the verdict: sent, or a failure (final for a response that
// UpdateProfile cannot read; as the retry policy says of a network error for an error of
// OnResponse, since the app may do better next time).
//
// The profile update is not written here: it goes to the Store in the attempt's own write
// ([Finished].User), so that the attempt and the attributes it read are saved together or
// not at all. OnResponse, the app's code, writes where and when it likes, before that write:
// a crash between the two calls it again when the job is sent again.
func (x *executor) afterResponse(ctx context.Context, at *attempt, resp *http.Response, body []byte) verdict {
	cm := at.msg
	truncated := len(body) >= x.readLimit(cm)
	if x.onResponse != nil {
		r := &Response{
			JobID: at.job.ID, MessageID: at.job.MessageID, UserID: at.job.UserID, Variant: at.job.Variant,
			Attempt: at.number, Test: at.rec.Test, StatusCode: resp.StatusCode, Header: resp.Header,
			Body: body[:min(len(body), x.readLimit(cm)-1)], Truncated: truncated,
		}
		if err := x.onResponse(ctx, r); err != nil {
			at.res = AttemptResult{Attempt: at.number, Err: err, End: at.res.End}
			return x.afterFailure(at, fmt.Errorf("OnResponse: %w", err), false)
		}
	}
	if cm != nil && cm.msg.UpdateProfile != nil {
		up, err := cm.msg.UpdateProfile.apply(at.job.UserID, body)
		if err != nil {
			return verdict{kind: failed, err: err}
		}
		at.profile = up
	}
	return verdict{kind: sent}
}
