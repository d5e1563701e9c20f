package podspec

import (
	"strings"

	"github.com/flyte-admission/flyte-admission/task"
)

// argVars are the values Flyte substitutes into command and args.
type argVars struct {
	input, inputPrefix, outputPrefix, rawOutputPrefix string
	checkpoint, prevCheckpoint, perRetryKey           string
	taskTemplatePath, namespace                       string
}

func newArgVars(t *task.Task) argVars {
	e := &t.Exec
	prev := e.PreviousCheckpointPrefix
	if prev == "" {
		prev = `""`
	}
	input := ""
	if e.InputPrefix != "" {
		input = strings.TrimSuffix(e.InputPrefix, "/") + "/inputs.pb"
	} else {
		input = "inputs.pb"
	}
	return argVars{
		input:            input,
		inputPrefix:      e.InputPrefix,
		outputPrefix:     e.OutputPrefix,
		rawOutputPrefix:  e.RawOutputPrefix,
		checkpoint:       e.CheckpointPrefix,
		prevCheckpoint:   prev,
		perRetryKey:      PerRetryUniqueKey(t.Name),
		taskTemplatePath: e.TaskTemplatePath,
		namespace:        e.Namespace,
	}
}

// lookup returns the value of a lower-cased variable name.
func (v *argVars) lookup(name string) (string, bool) {
	switch name {
	case "input":
		return v.input, true
	case "inputprefix":
		return v.inputPrefix, true
	case "outputprefix":
		return v.outputPrefix, true
	case "rawoutputdataprefix":
		return v.rawOutputPrefix, true
	case "checkpointoutputprefix":
		return v.checkpoint, true
	case "prevcheckpointprefix":
		return v.prevCheckpoint, true
	case "perretryuniquekey":
		return v.perRetryKey, true
	case "tasktemplatepath":
		return v.taskTemplatePath, true
	case "namespace":
		return v.namespace, true
	}
	return "", false
}

// renderAll templates each element; the result is never nil.
func (v *argVars) renderAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = v.render(s)
	}
	return out
}

// render substitutes {{ .name }} / {{ $name }} (case-insensitive, optional
// spaces). Unknown names, including {{ .Inputs.x }} (no input literals are
// available at admission), stay verbatim.
func (v *argVars) render(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		name, n, ok := parseVar(rest[i:])
		if ok {
			if val, found := v.lookup(strings.ToLower(name)); found {
				b.WriteString(val)
				rest = rest[i+n:]
				continue
			}
		}
		b.WriteString("{{")
		rest = rest[i+2:]
	}
	return b.String()
}

// parseVar parses "{{ .name }}" at the start of s and returns the name and the
// length consumed.
func parseVar(s string) (string, int, bool) {
	i := 2
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i >= len(s) || (s[i] != '.' && s[i] != '$') {
		return "", 0, false
	}
	i++
	start := i
	for i < len(s) && isNameByte(s[i]) {
		i++
	}
	if i == start {
		return "", 0, false
	}
	name := s[start:i]
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if !strings.HasPrefix(s[i:], "}}") {
		return "", 0, false
	}
	return name, i + 2, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isNameByte(c byte) bool {
	return c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// PerRetryUniqueKey is Flyte's {{.perRetryUniqueKey}}: the generated name with
// a leading run of characters outside [a-zA-Z_] replaced by "a" and every other
// run outside [a-zA-Z0-9_] replaced by "_".
func PerRetryUniqueKey(name string) string {
	var b strings.Builder
	i := 0
	for i < len(name) && !isAlphaUnderscore(name[i]) {
		i++
	}
	if i > 0 {
		b.WriteByte('a')
	}
	inRun := false
	for ; i < len(name); i++ {
		c := name[i]
		if isAlphaUnderscore(c) || (c >= '0' && c <= '9') {
			b.WriteByte(c)
			inRun = false
			continue
		}
		if !inRun {
			b.WriteByte('_')
			inRun = true
		}
	}
	return b.String()
}

func isAlphaUnderscore(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
