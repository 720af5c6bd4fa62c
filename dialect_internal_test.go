package webhook

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzDialect translates any text with each dialect and compiles the translation: nothing
// panics, and every problem's position, told as a position in the text as written, is in it.
func FuzzDialect(f *testing.F) {
	for _, s := range []string{
		"{{User ID}}", "a\n{{ Device ID }} {{x | uper}}", "{{#if a}}x{{else}}y{{/if}}", "{{{x}}}",
		"{% raw %}{{User ID}}{% endraw %}", "{{", "{{{", "{{ 'a}}' }}", `{{defaultIfEmpty [a b].c "d"}}`,
		"\r\n{{userId}}\r{{ y | nope }}",
	} {
		f.Add(s)
	}
	e := newEngine(false)
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		written := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(src)
		lines := strings.Split(written, "\n")
		for name, d := range dialects {
			out, remap, problems := d.translate(src)
			_, msgs := e.env.Compile(out)
			for _, p := range append(problems, remapAll(msgs, remap)...) {
				m := rePosition.FindStringSubmatch(p)
				if m == nil {
					continue
				}
				line, _ := strconv.Atoi(m[1])
				col, _ := strconv.Atoi(m[2])
				if line < 1 || line > len(lines) || col < 1 || col > len(lines[line-1])+1 {
					t.Errorf("%s: problem %q with %q is at no position of the text as written (%d lines)", name, p, src, len(lines))
				}
			}
		}
	})
}
