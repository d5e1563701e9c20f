// Package objects reads and writes streams of Kubernetes objects: multi-
// document YAML or JSON (and v1 Lists) in, YAML or JSON out.
package objects

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one decoded object with where it came from.
type Object struct {
	// Source is the file the object came from ("" for stdin).
	Source string
	// Doc is the 1-based document number in its source.
	Doc int
	Map map[string]any
}

// Describe names the object for messages: Kind namespace/name (document N).
func (o Object) Describe() string {
	kind, _ := o.Map["kind"].(string)
	meta, _ := o.Map["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if kind == "" {
		kind = "object"
	}
	if ns != "" {
		name = ns + "/" + name
	}
	if o.Source != "" {
		return fmt.Sprintf("%s %s (%s, document %d)", kind, name, o.Source, o.Doc)
	}
	return fmt.Sprintf("%s %s (document %d)", kind, name, o.Doc)
}

// MaxDocumentBytes bounds one input document.
const MaxDocumentBytes = 8 << 20

// Read decodes every document of r. Empty documents are skipped; the items of
// a v1 List become objects of their own.
func Read(r io.Reader) ([]Object, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 64<<10))
	var out []Object
	for doc := 1; ; doc++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(raw) > MaxDocumentBytes {
			return nil, fmt.Errorf("document %d: %d bytes, more than the %d allowed", doc, len(raw), MaxDocumentBytes)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: invalid YAML or JSON: %w", doc, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		m, err := DecodeMap(js)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if k, _ := m["kind"].(string); k == "List" || (len(k) > 4 && k[len(k)-4:] == "List" && m["items"] != nil) {
			items, _ := m["items"].([]any)
			for i, it := range items {
				im, ok := it.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("document %d: items[%d] is not an object", doc, i)
				}
				out = append(out, Object{Doc: doc, Map: im})
			}
			continue
		}
		if _, ok := m["kind"].(string); !ok {
			return nil, fmt.Errorf("document %d: kind is missing", doc)
		}
		out = append(out, Object{Doc: doc, Map: m})
	}
	return out, nil
}

func stripComments(raw []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		b.Write(line)
	}
	return b.Bytes()
}

// DecodeMap decodes a JSON object, keeping numbers exact.
func DecodeMap(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// Into decodes a map into a typed object.
func Into(m map[string]any, into any) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, into)
}

// Write writes objects as YAML documents or as JSON (one object as itself,
// several as a v1 List, like kubectl). Both print every object's keys in one
// canonical order, sorted, whatever the maps hold (pre-encoded JSON such as
// an expansion's spec keeps its struct order otherwise), so that output read
// back and written again is the same bytes.
func Write(w io.Writer, format string, objs []map[string]any) error {
	switch format {
	case "json":
		var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
		if len(objs) == 1 {
			v = objs[0]
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		// Decoded as plain maps (numbers kept as written), encoded again:
		// encoding/json sorts map keys.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var plain any
		if err := dec.Decode(&plain); err != nil {
			return err
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(plain)
	case "yaml", "":
		for i, o := range objs {
			if i > 0 {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return err
				}
			}
			data, err := yaml.Marshal(o)
			if err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown output format %q (want yaml or json)", format)
}

// PodTemplates is an in-memory set of PodTemplates (podspec.Templates), e.g.
// those found in an input stream.
type PodTemplates map[string]*corev1.PodTemplate

// Add records a PodTemplate object.
func (p PodTemplates) Add(m map[string]any) error {
	pt := &corev1.PodTemplate{}
	if err := Into(m, pt); err != nil {
		return fmt.Errorf("decode PodTemplate: %w", err)
	}
	p[pt.Namespace+"/"+pt.Name] = pt
	return nil
}

// PodTemplate implements podspec.Templates. Namespace "" (flyte-admission's
// own namespace) finds templates written without a namespace.
func (p PodTemplates) PodTemplate(namespace, name string) (*corev1.PodTemplate, bool) {
	pt, ok := p[namespace+"/"+name]
	return pt, ok
}

// ReadPath reads a file, or every .yaml, .yml and .json file of a directory
// (not recursing, in name order), like kubectl apply -f.
func ReadPath(path string) ([]Object, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range entries {
			switch filepath.Ext(e.Name()) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
	}
	var out []Object
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		objs, err := Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for i := range objs {
			objs[i].Source = name
		}
		out = append(out, objs...)
	}
	return out, nil
}
