package jinja

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The differential test renders every template of testdata/corpus with the sandbox and with
// Jinja2 (Debian's python3-jinja2, driven by testdata/jinja2_render.py) and fails for each
// template that renders differently, unless the corpus marks it as a deliberate difference,
// in which case it fails if it renders the same.
//
// A corpus file is a txtar archive: a comment (a line "missing-as-empty" in it renders
// the file's templates with Options.MissingAsEmpty, and Jinja2 with its default Undefined),
// then files. "context.json" is the variables of the file's templates; each other file is
// one template, named by its file name, whose text is the file's content (with its final
// newline, which both engines drop). "NAME.json" gives template NAME its own variables, and
// "NAME.differs" marks it as a deliberate difference, saying why.

// corpusCase is one template of the corpus.
type corpusCase struct {
	name           string // file/template
	template       string
	context        json.RawMessage
	missingAsEmpty bool
	differs        string // why the sandbox differs from Jinja2 on purpose
}

// jinja2Result is what Jinja2 made of a case: its output or its error.
type jinja2Result struct {
	Output *string `json:"output"`
	Error  string  `json:"error"`
}

func TestJinja2Corpus(t *testing.T) {
	cases := readCorpus(t)
	want := renderWithJinja2(t, cases)
	envs := map[bool]*Env{false: New(Options{}), true: New(Options{MissingAsEmpty: true})}
	same := 0
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := renderCase(envs[c.missingAsEmpty], c)
			matches := want[i].Output == nil && err != nil || want[i].Output != nil && err == nil && *want[i].Output == got
			if matches {
				same++
			}
			switch {
			case matches && c.differs != "":
				t.Errorf("%s renders as Jinja2 does (%s), but is marked as a deliberate difference (%s): remove its .differs file",
					c.name, describe(got, err), c.differs)
			case !matches && c.differs == "":
				w := "error " + want[i].Error
				if want[i].Output != nil {
					w = strconv.Quote(*want[i].Output)
				}
				t.Errorf("%s differs from Jinja2:\ntemplate: %q\nhere:     %s\nJinja2:   %s", c.name, c.template, describe(got, err), w)
			}
		})
	}
	t.Logf("%d of %d templates render as Jinja2 renders them", same, len(cases))
}

// describe formats a rendering's result for a failure message.
func describe(out string, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	return strconv.Quote(out)
}

// renderCase renders c with e, decoding its variables as the library stores them: integers
// as int64, other numbers as float64.
func renderCase(e *Env, c corpusCase) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(c.context))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return "", fmt.Errorf("context: %v", err)
	}
	tmpl, ps := e.Compile(c.template)
	if tmpl == nil {
		return "", fmt.Errorf("compile: %s", strings.Join(ps, "; "))
	}
	return tmpl.Render(NewScope(mapVars(numbers(data).(map[string]any))))
}

// numbers replaces the json.Numbers in v with int64 or float64.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = numbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = numbers(e)
		}
	}
	return v
}

// renderWithJinja2 renders every case with Jinja2, or skips the test if no Python with
// Jinja2 3 is found. WEBHOOK_TEST_PYTHON names the Python to use.
func renderWithJinja2(t *testing.T, cases []corpusCase) []jinja2Result {
	t.Helper()
	python := findPython()
	if python == "" {
		t.Skip("no python3 with Jinja2 3.x (apt-get install python3-jinja2, or set WEBHOOK_TEST_PYTHON): cannot compare with Jinja2")
	}
	type input struct {
		Template       string          `json:"template"`
		Context        json.RawMessage `json:"context"`
		MissingAsEmpty bool            `json:"missing_as_empty"`
	}
	in := make([]input, len(cases))
	for i, c := range cases {
		in[i] = input{c.template, c.context, c.missingAsEmpty}
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "jinja2_render.py"))
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s testdata/jinja2_render.py: %v\n%s", python, err, stderr.Bytes())
	}
	t.Logf("reference: %s (%s)", strings.TrimSpace(stderr.String()), python)
	var results []jinja2Result
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("jinja2_render.py wrote %d results for %d templates: %v", len(results), len(cases), err)
	}
	return results
}

// fuzzContext are the variables FuzzJinja2 renders templates with.
const fuzzContext = `{"s": "Ann Lee", "n": 4, "f": 2.5, "neg": -3, "l": ["b", "a", 3], "d": {"a": 1, "b": "x"}, "none": null, "t": true, "u": "é€👍"}`

// FuzzJinja2 renders any template with the sandbox and with Jinja2, and fails if the sandbox
// panics, or if both render it and the outputs differ. Templates the sandbox refuses or
// fails on are not compared (the limits are narrower than Jinja2's), nor those where Jinja2
// prints an object's address. Its seeds are the corpus's templates that are not marked as
// differences.
func FuzzJinja2(f *testing.F) {
	for _, c := range readCorpus(f) {
		if c.differs == "" && !c.missingAsEmpty {
			f.Add(c.template)
		}
	}
	python := findPython()
	if python == "" {
		f.Skip("no python3 with Jinja2 3.x (apt-get install python3-jinja2, or set WEBHOOK_TEST_PYTHON): cannot compare with Jinja2")
	}
	cmd := exec.Command(python, filepath.Join("testdata", "jinja2_render.py"), "--lines")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		f.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	results := json.NewDecoder(stdout)
	env := New(Options{})
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, _ := env.Compile(src)
		if tmpl == nil {
			return
		}
		got, err := renderCase(env, corpusCase{template: src, context: json.RawMessage(fuzzContext)})
		if err != nil {
			if strings.HasPrefix(err.Error(), "template failed") {
				t.Fatalf("Render(%q) panicked: %v", src, err)
			}
			return
		}
		if err := json.NewEncoder(stdin).Encode(map[string]any{"template": src, "context": json.RawMessage(fuzzContext)}); err != nil {
			t.Fatal(err)
		}
		var want jinja2Result
		if err := results.Decode(&want); err != nil {
			t.Fatalf("reading Jinja2's result: %v", err)
		}
		// Jinja2 prints what it cannot show as <generator object do_map at 0x...>; the sandbox
		// makes lists of its generators and prints them.
		if want.Output != nil && *want.Output != got && !strings.Contains(*want.Output, " at 0x") {
			t.Errorf("template %q renders %q; Jinja2 renders %q", src, got, *want.Output)
		}
	})
}

// findPython returns the first Python that imports Jinja2 3.x: $WEBHOOK_TEST_PYTHON, Debian's
// /usr/bin/python3, or python3 on the PATH; or "" if there is none.
func findPython() string {
	candidates := []string{os.Getenv("WEBHOOK_TEST_PYTHON"), "/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		out, err := exec.Command(p, "-c", "import jinja2; print(jinja2.__version__)").Output()
		if err == nil && strings.HasPrefix(string(out), "3.") {
			return p
		}
	}
	return ""
}

// readCorpus reads every case of testdata/corpus/*.txtar.
func readCorpus(t testing.TB) []corpusCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus in testdata/corpus: %v", err)
	}
	var cases []corpusCase
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		comment, files := parseTxtar(string(data))
		file := strings.TrimSuffix(filepath.Base(path), ".txtar")
		missingAsEmpty := strings.Contains("\n"+comment, "\nmissing-as-empty\n")
		byName := map[string]string{}
		var names []string
		for _, f := range files {
			if _, dup := byName[f.name]; dup {
				t.Fatalf("%s: %s appears twice", path, f.name)
			}
			byName[f.name] = f.data
			if !strings.HasSuffix(f.name, ".json") && !strings.HasSuffix(f.name, ".differs") {
				names = append(names, f.name)
			}
		}
		for _, f := range files {
			base := strings.TrimSuffix(strings.TrimSuffix(f.name, ".json"), ".differs")
			if _, ok := byName[base]; !ok && f.name != "context.json" {
				t.Fatalf("%s: %s is for a template %s that is not there", path, f.name, base)
			}
		}
		for _, name := range names {
			ctx, ok := byName[name+".json"]
			if !ok {
				ctx = byName["context.json"]
			}
			if ctx == "" {
				ctx = "{}"
			}
			cases = append(cases, corpusCase{
				name:           file + "/" + name,
				template:       byName[name],
				context:        json.RawMessage(ctx),
				missingAsEmpty: missingAsEmpty,
				differs:        strings.TrimSpace(byName[name+".differs"]),
			})
		}
	}
	return cases
}

// txtarFile is one file of a txtar archive.
type txtarFile struct {
	name, data string
}

// parseTxtar parses a txtar archive (the format of golang.org/x/tools/txtar): a comment, then
// files, each starting with a line "-- name --".
func parseTxtar(s string) (comment string, files []txtarFile) {
	var current *txtarFile
	var b strings.Builder
	flush := func() {
		if current == nil {
			comment = b.String()
		} else {
			current.data = b.String()
			files = append(files, *current)
		}
		b.Reset()
	}
	for line := range strings.SplitAfterSeq(s, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "-- "); ok && strings.HasSuffix(name, " --") {
			flush()
			current = &txtarFile{name: strings.TrimSpace(strings.TrimSuffix(name, " --"))}
			continue
		}
		b.WriteString(line)
	}
	flush()
	return comment, files
}
