package task

import (
	"fmt"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
)

// Limits of what one annotation may cost to decode. Each is checked before
// the work it bounds is done, so that no input within the annotation limit
// can make the decoding larger.
const (
	// MaxTemplateJSONBytes bounds the JSON a template (or an execution
	// context) written in YAML becomes: YAML aliases repeat what they name,
	// so a small document can stand for a huge one.
	MaxTemplateJSONBytes = MaxAnnotationBytes
	// yamlGrowth bounds the JSON of a YAML document relative to its size
	// (with yamlSlack): plain YAML becomes JSON of about its own size;
	// only aliases make it grow further.
	yamlGrowth = 4
	yamlSlack  = 4 << 10
	// MaxYAMLBytes bounds an annotation written in YAML (JSON may take all
	// of MaxAnnotationBytes): parsing YAML costs a few hundred bytes per
	// node, and a node may take two bytes.
	MaxYAMLBytes = 64 << 10
	// MaxTemplateValues bounds the JSON values (objects, lists, scalars) of a
	// template: each becomes a protobuf value of about a hundred bytes.
	MaxTemplateValues = 1 << 15
)

// yamlBudget is the most JSON a YAML document of n bytes may become.
func yamlBudget(n int) int {
	return min(yamlGrowth*n+yamlSlack, MaxTemplateJSONBytes)
}

// checkYAMLSize parses s into YAML nodes (aliases stay references, so this
// costs no more than s) and refuses it when the JSON it stands for, with
// every alias expanded, would exceed yamlBudget(len(s)) bytes or
// MaxTemplateValues values. Only then may it be converted.
func checkYAMLSize(s string) error {
	size, budget, err := measure(s)
	if err != nil {
		return err
	}
	switch {
	case size.bytes > budget:
		return fmt.Errorf("the YAML stands for more than %d bytes of JSON (aliases expanded), the most allowed for %d bytes of YAML",
			budget, len(s))
	case size.values > MaxTemplateValues:
		return fmt.Errorf("the YAML stands for more than %d values (aliases expanded)", MaxTemplateValues)
	}
	return nil
}

// measure returns the size of the JSON that s stands for (saturated just
// above the budget for s) and that budget.
func measure(s string) (yamlSize, int, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal([]byte(s), &doc); err != nil {
		return yamlSize{}, 0, fmt.Errorf("parse YAML: %w", err)
	}
	m := yamlMeasure{sizes: map[*yaml3.Node]yamlSize{}, budget: yamlBudget(len(s))}
	return m.measure(&doc, 0), m.budget, nil
}

// measureYAML is the measured JSON size of s (for tests).
func measureYAML(s string) (int, error) {
	size, _, err := measure(s)
	return size.bytes, err
}

type yamlSize struct{ bytes, values int }

// yamlMeasure computes the JSON size of YAML nodes, each node once (an
// alias reuses the size of the node it names). Sizes saturate just above
// the budget, so the sums cannot overflow.
type yamlMeasure struct {
	sizes  map[*yaml3.Node]yamlSize
	budget int
}

func (m *yamlMeasure) measure(n *yaml3.Node, depth int) yamlSize {
	if n == nil {
		return yamlSize{}
	}
	if s, ok := m.sizes[n]; ok {
		return s
	}
	if depth > 10000 {
		// The parser refuses deeper nesting long before; an alias loop
		// (which it also refuses) would end here.
		return yamlSize{bytes: m.budget + 1}
	}
	var s yamlSize
	switch n.Kind {
	case yaml3.DocumentNode:
		for _, c := range n.Content {
			s = s.add(m.measure(c, depth+1), m.budget)
		}
	case yaml3.AliasNode:
		s = m.measure(n.Alias, depth+1)
	case yaml3.ScalarNode:
		s = yamlSize{bytes: scalarBytes(n), values: 1}
	default: // MappingNode, SequenceNode: brackets, and a separator per item
		s = yamlSize{bytes: 2, values: 1}
		for _, c := range n.Content {
			s = s.add(m.measure(c, depth+1), m.budget)
			s.bytes++
		}
	}
	m.sizes[n] = s
	return s
}

func (s yamlSize) add(t yamlSize, budget int) yamlSize {
	return yamlSize{bytes: min(s.bytes+t.bytes, budget+1), values: min(s.values+t.values, MaxTemplateValues+1)}
}

// scalarBytes bounds the JSON of a scalar: a string, or what a plain
// scalar may resolve to (null and false take five bytes; a number such as
// 1e20 is written out in up to 25).
func scalarBytes(n *yaml3.Node) int {
	b := max(jsonStringBytes(n.Value), 5)
	if n.Style == 0 && n.Value != "" && strings.IndexByte("0123456789+-.", n.Value[0]) >= 0 {
		b = max(b, 25)
	}
	return b
}

// jsonStringBytes is the length of v as a quoted JSON string (an upper
// bound for the number, boolean or null it may stand for).
func jsonStringBytes(v string) int {
	n := len(v) + 2
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20:
			n += 5 // \u00XX
		case c == '"' || c == '\\', c == '<' || c == '>' || c == '&':
			n += 5
		case c == 0xE2 && i+2 < len(v) && v[i+1] == 0x80 && (v[i+2] == 0xA8 || v[i+2] == 0xA9):
			n += 3 // U+2028 and U+2029 become \u2028 and \u2029
		}
	}
	return n
}

// countJSONValues counts the places a JSON text may hold a value (after an
// opening bracket, a colon or a comma: at least its values but the first),
// stopping at limit+1. Protobuf decoding allocates per value.
func countJSONValues(s string, limit int) int {
	n, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[', ',', ':':
			// An object or list opens a value; a comma or colon precedes one.
			if n++; n > limit {
				return n
			}
		}
	}
	return n
}

// MaxObjectBytes bounds the object an expansion generates: the apiserver
// stores at most 1.5 MiB per object (etcd's default request limit), so a
// larger expansion could never be stored, and is refused before it is built.
const MaxObjectBytes = 3 << 19

// Grow charges n bytes of generated output, which field of the task makes,
// and fails naming that field once the task's expansion would exceed
// MaxObjectBytes: plugins call it before each copy of a pod they add, so
// that a small template cannot make a huge object.
func (t *Task) Grow(field string, n int) error {
	t.generated += int64(n)
	if t.generated > MaxObjectBytes {
		return BadSpec(field, "the expansion would be more than %d bytes (the most the apiserver stores per object): make the pods or their number smaller", MaxObjectBytes)
	}
	return nil
}

// Generated is what Grow was charged so far: an estimate of the size of the
// expansion's JSON, for sizing its buffer.
func (t *Task) Generated() int { return int(t.generated) }
