package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// scanAudienceJSON reads the JSON form of an Audience a token at a time, building nothing, and
// returns a [*ValidationError] as soon as it passes a limit that [Audience.Validate] would
// refuse: maxAudienceNodes criteria, maxAudienceDepth levels of criteria, maxListValues
// values in a list, maxValueDepth levels in a value. Decoding the whole input first would
// allocate tens of times its size (a 5 MB audience of 200,000 criteria took 300 MiB) before
// refusing it. Other errors, of syntax or of types, are the decoder's to report:
// scanAudienceJSON goes on past a value of an unexpected type, since the decoder builds the
// rest anyway, and stops without an error at bad syntax, which the decoder refuses before
// building anything. It never refuses what Validate accepts.
func scanAudienceJSON(b []byte) error {
	s := audienceScan{dec: json.NewDecoder(bytes.NewReader(b))}
	s.dec.UseNumber()
	t, err := s.dec.Token()
	if err == nil {
		err = s.audience(t, "audience", 0)
	}
	if errors.Is(err, errStopScan) {
		return nil
	}
	return err
}

// errStopScan stops a scan at bad syntax; the decoder reports it.
var errStopScan = errors.New("stop scanning")

// audienceScan is the state of scanAudienceJSON.
type audienceScan struct {
	dec   *json.Decoder
	nodes int // criteria seen
}

// token returns the next token, or errStopScan.
func (s *audienceScan) token() (json.Token, error) {
	t, err := s.dec.Token()
	if err != nil {
		return nil, errStopScan
	}
	return t, nil
}

// refuse returns the problem as a *ValidationError.
func refuse(path, format string, args ...any) error {
	var ps problems
	ps.add(path, format, args...)
	return ps.err("audience")
}

// audience scans a criterion at path and depth (as compileNode counts them), whose first
// token is t.
func (s *audienceScan) audience(t json.Token, path string, depth int) error {
	if t != json.Delim('{') {
		return s.value(t, path, 0) // not a criterion: a type error
	}
	if depth > maxAudienceDepth {
		return refuse(path, "nested more than %d levels deep", maxAudienceDepth)
	}
	if s.nodes++; s.nodes > maxAudienceNodes {
		return refuse(path, "more than %d criteria", maxAudienceNodes)
	}
	for s.dec.More() {
		key, err := s.token()
		if err != nil {
			return err
		}
		if t, err = s.token(); err != nil {
			return err
		}
		// encoding/json matches field names without regard to case.
		k, _ := key.(string)
		k = strings.ToLower(k)
		switch {
		case k == "not":
			err = s.audience(t, path+".not", depth+1)
		case (k == "all" || k == "any") && t == json.Delim('['):
			for i := 0; err == nil && s.dec.More(); i++ {
				if t, err = s.token(); err == nil {
					err = s.audience(t, fmt.Sprintf("%s.%s[%d]", path, k, i), depth+1)
				}
			}
			if err == nil {
				_, err = s.token() // ]
			}
		default:
			err = s.value(t, path+"."+k, 0)
		}
		if err != nil {
			return err
		}
	}
	_, err := s.token() // }
	return err
}

// value scans a value at path and depth (as normalizeValue counts it), whose first token is
// t.
func (s *audienceScan) value(t json.Token, path string, depth int) error {
	if depth > maxValueDepth {
		return refuse(path, "nested more than %d levels deep", maxValueDepth)
	}
	d, ok := t.(json.Delim)
	if !ok {
		return nil
	}
	for n := 1; s.dec.More(); n++ {
		if d == '[' && n > maxListValues {
			return refuse(path, "a list of more than %d values", maxListValues)
		}
		if d == '{' {
			if _, err := s.token(); err != nil { // the key
				return err
			}
		}
		t, err := s.token()
		if err == nil {
			err = s.value(t, path, depth+1)
		}
		if err != nil {
			return err
		}
	}
	_, err := s.token() // ] or }
	return err
}
