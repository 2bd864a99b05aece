package httpapi

import (
	"github.com/dlqkit/dlq"
	"html/template"
	"strings"
	"testing"
)

// FuzzEscapeHTML: the dashboard's escaper writes what html/template
// writes for the same text in an element.
func FuzzEscapeHTML(f *testing.F) {
	for _, s := range []string{"", "plain", `<script>alert('x' + "y")</script> & more`, "\x00\xff\xfeé\u2028", strings.Repeat(`": 503 "`, 100)} {
		f.Add(s)
	}
	tmpl := template.Must(template.New("").Parse(`<pre>{{.}}</pre>`))
	f.Fuzz(func(t *testing.T, s string) {
		var want, got strings.Builder
		if err := tmpl.Execute(&want, s); err != nil {
			t.Fatal(err)
		}
		if err := tmpl.Execute(&got, escapeHTML(s)); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("%q: escapeHTML writes %q, html/template %q", s, got.String(), want.String())
		}
	})
}

// FuzzJSONSize: jsonSize measures an item as MarshalJSON writes it.
func FuzzJSONSize(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\x00\x1f", "\xff\xfe é \u2028\u2029 \U0001F600", strings.Repeat(`": 503 "`, 100)} {
		f.Add(s, "id")
	}
	f.Fuzz(func(t *testing.T, text, id string) {
		it := dlq.Item{ID: id, Error: text, SourceID: text}
		b, _ := it.MarshalJSON()
		if got := jsonSize(it); got != len(b) {
			t.Fatalf("jsonSize = %d, MarshalJSON writes %d bytes: %s", got, len(b), b)
		}
		var m measurer
		other := dlq.Item{ID: text, Error: id}
		ob, _ := other.MarshalJSON()
		for _, c := range []struct {
			it   dlq.Item
			want int
		}{{it, len(b)}, {it, len(b)}, {other, len(ob)}, {it, len(b)}} {
			if got := m.jsonSize(c.it); got != c.want {
				t.Fatalf("measurer: %d, MarshalJSON writes %d bytes", got, c.want)
			}
		}
	})
}
