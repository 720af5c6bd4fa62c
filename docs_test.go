package webhook_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDocs keeps README.md and docs/*.md honest: every relative link resolves to a file and,
// with a #fragment, to a heading in it; every repository path they name in code (`bench/`,
// `go run ./examples/quickstart`) exists, and so does every Example, Test, Benchmark and Fuzz
// function they name (`ExampleSender_Trigger`, `pgstore.ExampleStore_WithTx`) and every
// declaration of this module's packages (`Config.Caps`, `webhook.Verify`, `pgstore.New`,
// `Sender.Attempts(ctx, q)`); and every ```go block compiles and passes go vet in a module of
// its own that requires this one. A block marked ```go fragment is not compiled; a block
// marked ```go file=PATH must also be identical to the file PATH.
func TestDocs(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	names = append([]string{filepath.Join(root, "README.md")}, names...)
	pages := readPages(t, root, names)
	for _, p := range checkDocs(root, pages) {
		t.Error(p)
	}
	if testing.Short() {
		t.Skip("go blocks not compiled with -short")
	}
	for _, p := range compileGoBlocks(t, root, pages) {
		t.Error(p)
	}
}

// TestDocsCheckerFindsProblems runs the checker on a page with one of each problem, so that
// TestDocs passing means something.
func TestDocsCheckerFindsProblems(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.md")
	text := "# Bad page\n\n" +
		"[fine](#bad-page) [fine too](README.md#quickstart)\n" +
		"[gone](no-such-file.md) [no heading](#no-such-heading) [no heading there](README.md#nowhere)\n" +
		"Run `go run ./examples/nowhere` or read `store/nostore/`; `application/json` is no path. " +
		"`github.com/hookline/webhook/store/pgstore.Store.WithTx`, `github.com/hookline/webhook/store/nostore.New`\n\n" +
		"`ExampleNoSuchThing`, `pgstore.ExampleFakeClock`, `webhooktest.ExampleFakeClock`, " +
		"`Config.Caps[0].Max`, `Sender.Attempts(ctx, q)`, `Config.NoSuchField`, `webhook.NoSuchFunc(x)`, `pgstore.Store.NoSuchMethod`\n" +
		"```sh\ngo test ./no/such/dir\n```\n\n" +
		"```go file=examples/quickstart/main.go\npackage main\n\nfunc main() {}\n```\n\n" +
		"```go\npackage main\n\nfunc main() { undefinedName() }\n```\n\n" +
		"```go fragment\nthis is not Go\n```\n"
	if err := os.WriteFile(bad, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	readme := readPages(t, root, []string{filepath.Join(root, "README.md")})
	pages := readPages(t, root, []string{bad})
	// The bad page sits in another directory; its links resolve against the repository's.
	pages[0].dir = root
	pages = append(pages, readme...)
	got := strings.Join(checkDocs(root, pages), "\n") + "\n"
	for _, want := range []string{
		`bad.md:4: link "no-such-file.md": no-such-file.md does not exist`,
		`bad.md:4: link "#no-such-heading": no heading`,
		`bad.md:4: link "README.md#nowhere": no heading`,
		`bad.md:5: path "./examples/nowhere" does not exist`,
		`bad.md:5: path "store/nostore/" does not exist`,
		`bad.md:5: path "store/nostore" does not exist`,
		`bad.md:7: no func ExampleNoSuchThing`,
		`bad.md:7: no func pgstore.ExampleFakeClock`,
		`bad.md:7: no declaration webhook.Config.NoSuchField`,
		`bad.md:7: no declaration webhook.NoSuchFunc`,
		`bad.md:7: no declaration pgstore.Store.NoSuchMethod`,
		`bad.md:9: path "./no/such/dir" does not exist`,
		`bad.md:13: go block differs from examples/quickstart/main.go`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("checkDocs found:\n%s\nwant it to contain %q", got, want)
		}
	}
	for _, unwanted := range []string{"#bad-page", "README.md#quickstart", "application/json", "webhooktest.ExampleFakeClock", "store/pgstore", "webhook.Config.Caps", "webhook.Sender.Attempts"} {
		if strings.Contains(got, `"`+unwanted+`"`) || strings.Contains(got, " "+unwanted+"\n") {
			t.Errorf("checkDocs found:\n%s\nwant nothing about %q", got, unwanted)
		}
	}
	if testing.Short() {
		t.Skip("go blocks not compiled with -short")
	}
	compiled := strings.Join(compileGoBlocks(t, root, pages[:1]), "\n")
	if !strings.Contains(compiled, "bad.md:21:") || !strings.Contains(compiled, "undefinedName") {
		t.Errorf("compileGoBlocks found:\n%s\nwant undefinedName reported at bad.md:21", compiled)
	}
	if strings.Contains(compiled, "not Go") {
		t.Errorf("compileGoBlocks compiled the fragment:\n%s", compiled)
	}
}

// A page is one Markdown file, read into what the checks need.
type page struct {
	name    string          // path relative to the repository, for messages
	dir     string          // directory that relative links start from
	anchors map[string]bool // GitHub's anchors of its headings
	links   []located       // link targets outside code
	spans   []located       // inline code spans
	blocks  []block         // fenced code blocks
}

type located struct {
	line int
	text string
}

type block struct {
	line int    // line of the first line of code
	info string // the info string after ```
	code string
}

var (
	linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	spanRE = regexp.MustCompile("`([^`]+)`")
)

func readPages(t *testing.T, root string, names []string) []*page {
	t.Helper()
	var pages []*page
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(root, name)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = filepath.Base(name)
		}
		p := &page{name: rel, dir: filepath.Dir(name), anchors: map[string]bool{}}
		seen := map[string]int{}
		var cur *block
		indent := ""
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			trimmed := strings.TrimLeft(line, " ")
			if cur != nil {
				if strings.HasPrefix(trimmed, "```") {
					p.blocks = append(p.blocks, *cur)
					cur = nil
					continue
				}
				cur.code += strings.TrimPrefix(line, indent) + "\n"
				continue
			}
			if strings.HasPrefix(trimmed, "```") {
				indent = line[:len(line)-len(trimmed)]
				cur = &block{line: n + 1, info: strings.TrimSpace(trimmed[3:])}
				continue
			}
			if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
				a := anchor(h)
				if k := seen[a]; k > 0 {
					p.anchors[a+"-"+strconv.Itoa(k)] = true
				} else {
					p.anchors[a] = true
				}
				seen[a]++
			}
			for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
				p.links = append(p.links, located{n, m[1]})
			}
			for _, m := range spanRE.FindAllStringSubmatch(line, -1) {
				p.spans = append(p.spans, located{n, m[1]})
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if cur != nil {
			t.Fatalf("%s:%d: code block not closed", rel, cur.line-1)
		}
		pages = append(pages, p)
	}
	return pages
}

// anchor is the fragment GitHub gives a heading: lower case, punctuation dropped, spaces to
// hyphens. Code spans and links in the heading count by their text.
func anchor(heading string) string {
	heading = linkRE.ReplaceAllString(heading, "]")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// checkDocs returns a problem for each link that does not resolve and each path that does
// not exist.
func checkDocs(root string, pages []*page) []string {
	byPath := map[string]*page{}
	for _, p := range pages {
		byPath[filepath.Join(root, p.name)] = p
	}
	var problems []string
	var funcs map[string]map[string]bool
	var decls map[string]bool
	for _, p := range pages {
		for _, l := range p.links {
			if strings.Contains(l.text, "://") || strings.HasPrefix(l.text, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(l.text, "#")
			target := filepath.Join(root, p.name)
			if file != "" {
				target = filepath.Join(p.dir, filepath.FromSlash(file))
				if _, err := os.Stat(target); err != nil {
					problems = append(problems, fmt.Sprintf("%s:%d: link %q: %s does not exist", p.name, l.line, l.text, file))
					continue
				}
			}
			if frag == "" {
				continue
			}
			tp := byPath[target]
			if tp == nil {
				if strings.HasSuffix(target, ".md") {
					problems = append(problems, fmt.Sprintf("%s:%d: link %q: %s is not among the checked pages", p.name, l.line, l.text, file))
				}
				continue
			}
			if !tp.anchors[frag] {
				problems = append(problems, fmt.Sprintf("%s:%d: link %q: no heading #%s in %s", p.name, l.line, l.text, frag, tp.name))
			}
		}
		for _, s := range p.spans {
			for _, path := range namedPaths(s.text, false) {
				problems = append(problems, missing(root, p.name, s.line, path)...)
			}
			if decls == nil {
				decls = declarations(root)
			}
			if name, ok := declName(s.text, decls); ok && !decls[name] && !testFuncRE.MatchString(s.text) {
				problems = append(problems, fmt.Sprintf("%s:%d: no declaration %s", p.name, s.line, name))
			}
			if m := testFuncRE.FindStringSubmatch(s.text); m != nil {
				if funcs == nil {
					funcs = testFuncs(root)
				}
				if pkg, name := m[1], m[2]; pkg != "webhook" && !funcs[name][pkg] {
					problems = append(problems, fmt.Sprintf("%s:%d: no func %s", p.name, s.line, s.text))
				}
			}
		}
		for _, b := range p.blocks {
			switch blockLang(b.info) {
			case "sh", "bash", "shell":
				for i, line := range strings.Split(b.code, "\n") {
					for _, path := range namedPaths(line, true) {
						problems = append(problems, missing(root, p.name, b.line+i, path)...)
					}
				}
			case "go":
				if file, ok := blockAttr(b.info, "file"); ok {
					want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
					if err != nil {
						problems = append(problems, fmt.Sprintf("%s:%d: go block: %v", p.name, b.line, err))
					} else if string(want) != b.code {
						problems = append(problems, fmt.Sprintf("%s:%d: go block differs from %s", p.name, b.line, file))
					}
				}
			}
		}
	}
	return problems
}

// testFuncRE matches a code span that names a test function, with its package or without:
// ExampleSender_Trigger, TestCrash, pgstore.ExampleStore_WithTx. (webhook.TestSendOptions is
// a type, not a test.)
var testFuncRE = regexp.MustCompile(`^(?:([a-z]\w*)\.)?((?:Example|Test|Benchmark|Fuzz)[A-Z_]\w*)$`)

// testFuncs returns the test functions of the repository's _test.go files: for each name, the
// packages that have one, by the name of their directory, and "" for any package.
func testFuncs(root string) map[string]map[string]bool {
	funcRE := regexp.MustCompile(`(?m)^func ((?:Example|Test|Benchmark|Fuzz)\w*)\(`)
	funcs := map[string]map[string]bool{}
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := filepath.Base(filepath.Dir(path))
		if filepath.Dir(path) == root {
			pkg = "webhook"
		}
		for _, m := range funcRE.FindAllStringSubmatch(string(src), -1) {
			if funcs[m[1]] == nil {
				funcs[m[1]] = map[string]bool{}
			}
			funcs[m[1]][pkg] = true
			funcs[m[1]][""] = true
		}
		return nil
	})
	return funcs
}

// docPackages are the packages whose declarations the docs name, by directory.
var docPackages = map[string]string{
	"webhook":     ".",
	"memstore":    "store/memstore",
	"sqlitestore": "store/sqlitestore",
	"pgstore":     "store/pgstore",
	"storetest":   "store/storetest",
	"webhooktest": "webhooktest",
}

// declarations returns the exported declarations of docPackages, outside tests, as
// "pkg.Name" and "pkg.Type.Member" for the fields and methods of each type (and the methods
// of interfaces).
func declarations(root string) map[string]bool {
	decls := map[string]bool{}
	for pkg, dir := range docPackages {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				continue // its declarations are reported missing
			}
			for _, d := range f.Decls {
				addDecl(decls, pkg, d)
			}
		}
	}
	return decls
}

func addDecl(decls map[string]bool, pkg string, d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			decls[pkg+"."+d.Name.Name] = true
			return
		}
		t := d.Recv.List[0].Type
		if star, ok := t.(*ast.StarExpr); ok {
			t = star.X
		}
		if id, ok := t.(*ast.Ident); ok {
			decls[pkg+"."+id.Name+"."+d.Name.Name] = true
		}
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch spec := spec.(type) {
			case *ast.ValueSpec:
				for _, n := range spec.Names {
					decls[pkg+"."+n.Name] = true
				}
			case *ast.TypeSpec:
				decls[pkg+"."+spec.Name.Name] = true
				var fields *ast.FieldList
				switch t := spec.Type.(type) {
				case *ast.StructType:
					fields = t.Fields
				case *ast.InterfaceType:
					fields = t.Methods
				}
				if fields == nil {
					continue
				}
				for _, f := range fields.List {
					for _, n := range f.Names {
						decls[pkg+"."+spec.Name.Name+"."+n.Name] = true
					}
				}
			}
		}
	}
}

// declName returns the declaration a code span names, as declarations spells it, if the span
// is a selector of one of docPackages or of a type of package webhook: `pgstore.New(pool)`,
// `webhook.Config`, `Config.Caps[i].Max` (whose Caps is checked), `Sender.Attempts(ctx, q)`.
func declName(span string, decls map[string]bool) (string, bool) {
	if i := strings.IndexAny(span, "([{ "); i >= 0 {
		span = span[:i]
	}
	parts := strings.Split(span, ".")
	if len(parts) < 2 {
		return "", false
	}
	for _, p := range parts {
		if p == "" || !isIdent(p) {
			return "", false
		}
	}
	if _, ok := docPackages[parts[0]]; ok {
		if !unicode.IsUpper(rune(parts[1][0])) {
			return "", false
		}
		if len(parts) > 3 {
			parts = parts[:3]
		}
		return strings.Join(parts, "."), true
	}
	// Type.Member, of package webhook.
	if unicode.IsUpper(rune(parts[0][0])) && decls["webhook."+parts[0]] && len(parts) == 2 {
		return "webhook." + parts[0] + "." + parts[1], true
	}
	return "", false
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(unicode.IsLetter(r) || r == '_' || i > 0 && unicode.IsDigit(r)) {
			return false
		}
	}
	return s != ""
}

func missing(root, name string, line int, path string) []string {
	clean := strings.TrimSuffix(strings.TrimSuffix(path, "/..."), "/")
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(clean))); err != nil {
		return []string{fmt.Sprintf("%s:%d: path %q does not exist", name, line, path)}
	}
	return nil
}

const modulePath = "github.com/hookline/webhook"

// repoDirs are the top-level directories whose paths a page may name without ./; a code span
// that begins with one of them is taken for a path.
var repoDirs = []string{"bench", "docs", "examples", "internal", "store", "testdata", "webhooktest", ".ci"}

// namedPaths returns the repository paths that one code span or shell line names: the
// arguments that begin with ./ (and the directory of a cd), import paths of this module, and
// single words that begin with a top-level directory of the repository, such as store/pgstore.
// A bare file name (main.go) is not taken for a path: it may be the reader's.
func namedPaths(s string, shell bool) []string {
	words := strings.Fields(s)
	var paths []string
	for i, w := range words {
		w = strings.Trim(w, `'"(),;`)
		switch {
		case strings.ContainsAny(w, "<>*{}$") || strings.Contains(w, "://"):
		case w == "./..." || w == "." || w == "./":
		case strings.HasPrefix(w, "./"):
			paths = append(paths, w)
		case i > 0 && words[i-1] == "cd" && w != "..":
			paths = append(paths, w)
		case w == modulePath:
		case strings.HasPrefix(w, modulePath+"/"):
			// An import path, maybe with a symbol as go doc takes it: .../pgstore.Store.WithTx.
			dir, file := path.Split(strings.TrimPrefix(w, modulePath+"/"))
			file, _, _ = strings.Cut(file, ".")
			paths = append(paths, dir+file)
		case shell || len(words) > 1:
		case slices.Contains(repoDirs, strings.Split(w, "/")[0]) && strings.Contains(w, "/"):
			paths = append(paths, w)
		}
	}
	return paths
}

func blockLang(info string) string {
	lang, _, _ := strings.Cut(info, " ")
	return lang
}

func blockAttr(info, key string) (string, bool) {
	for _, f := range strings.Fields(info)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v, true
		}
		if f == key {
			return "", true
		}
	}
	return "", false
}

// compileGoBlocks writes each ```go block not marked fragment to a package of its own in a
// temporary module that requires this one (through a replace directive) and runs go vet on
// them all, offline. It returns go vet's complaints with the page and line of each.
func compileGoBlocks(t *testing.T, root string, pages []*page) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to compile the docs' code with")
	}
	dir := t.TempDir()
	where := map[string]string{} // package directory -> "page:line" of its first line
	for _, p := range pages {
		for _, b := range p.blocks {
			if blockLang(b.info) != "go" {
				continue
			}
			if _, ok := blockAttr(b.info, "fragment"); ok {
				continue
			}
			pkg := fmt.Sprintf("b%03d", len(where))
			file := "block.go"
			if strings.Contains(b.code, "*testing.T") || strings.Contains(b.code, "*testing.B") {
				file = "block_test.go"
			}
			if err := os.Mkdir(filepath.Join(dir, pkg), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, pkg, file), []byte(b.code), 0o666); err != nil {
				t.Fatal(err)
			}
			where[pkg] = p.name + ":" + strconv.Itoa(b.line)
		}
	}
	if len(where) == 0 {
		return nil
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	// The blocks may import what this module requires, at the versions it requires.
	gomod := strings.Replace(string(mod), "module "+modulePath, "module docsblocks", 1) +
		"\nrequire " + modulePath + " v0.0.0\n\nreplace " + modulePath + " => " + root + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goCmd, "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	// Point each complaint at the page: "b003/block.go:12:5: ..." becomes "docs/x.md:40:5: ...".
	posRE := regexp.MustCompile(`(?:\./)?(b\d{3})/block(?:_test)?\.go:(\d+)`)
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		line = posRE.ReplaceAllStringFunc(line, func(m string) string {
			sub := posRE.FindStringSubmatch(m)
			name, first, _ := strings.Cut(where[sub[1]], ":")
			a, _ := strconv.Atoi(first)
			b, _ := strconv.Atoi(sub[2])
			return name + ":" + strconv.Itoa(a+b-1)
		})
		problems = append(problems, "go vet: "+line)
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("go vet: %v", err))
	}
	return problems
}
