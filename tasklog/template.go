package tasklog

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the template engine. Flyte (tasklog/template.go) substitutes
// variables one after another, each with its own regular expression
//
//	(?i){{\s*[\.$]<name>\s*}}                    standard variables
//	(?i){{\s*.taskConfig[\.$]<key>\s*}}          dynamic links only ('.' = any rune but '\n')
//
// skipping variables whose value is empty. Because each pass runs over the
// output of the previous one, a substituted value can in theory complete a
// placeholder for a later variable. The engine below renders in one pass and
// detects (conservatively) every situation in which the sequential result could
// differ; only then does it fall back to a literal sequential emulation. Both
// paths are regexp-free and match Go's RE2 case folding (e.g. 'ſ' ~ 's',
// U+212A KELVIN SIGN ~ 'k').

// Variable indices in Flyte's substitution order (Input.templateVars); extra
// variables are substituted right after logName.
const (
	vLogName = iota
	vPodName
	vPodUID
	vNamespace
	vContainerName
	vContainerID
	vHostname
	vNodeName
	vNodeID
	vGeneratedName
	vTaskRetryAttempt
	vTaskID
	vTaskVersion
	vTaskProject
	vTaskDomain
	vExecutionName
	vExecutionProject
	vExecutionDomain
	vPodRFC3339StartTime
	vPodRFC3339FinishTime
	vPodUnixStartTime
	vPodUnixFinishTime
	numVars
)

// varIndex maps a lower-cased variable name to its index, or -1.
func varIndex(lower []byte) int {
	switch string(lower) {
	case "logname":
		return vLogName
	case "podname":
		return vPodName
	case "poduid":
		return vPodUID
	case "namespace":
		return vNamespace
	case "containername":
		return vContainerName
	case "containerid":
		return vContainerID
	case "hostname":
		return vHostname
	case "nodename":
		return vNodeName
	case "nodeid":
		return vNodeID
	case "generatedname":
		return vGeneratedName
	case "taskretryattempt":
		return vTaskRetryAttempt
	case "taskid":
		return vTaskID
	case "taskversion":
		return vTaskVersion
	case "taskproject":
		return vTaskProject
	case "taskdomain":
		return vTaskDomain
	case "executionname":
		return vExecutionName
	case "executionproject":
		return vExecutionProject
	case "executiondomain":
		return vExecutionDomain
	case "podrfc3339starttime":
		return vPodRFC3339StartTime
	case "podrfc3339finishtime":
		return vPodRFC3339FinishTime
	case "podunixstarttime":
		return vPodUnixStartTime
	case "podunixfinishtime":
		return vPodUnixFinishTime
	}
	return -1
}

// isSpace reports whether c is in RE2's \s class ([\t\n\f\r ]; no \v).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// asciiFold returns the lower-case ASCII letter/byte that r case-folds to
// (RE2 simple folding), if any.
func asciiFold(r rune) (byte, bool) {
	if r < utf8.RuneSelf {
		c := byte(r)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c, true
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return asciiFold(f)
		}
	}
	return 0, false
}

// foldPrefix reports whether s starts with lit (lower-case ASCII) under case
// folding, and how many bytes of s that prefix spans.
func foldPrefix(s, lit string) (int, bool) {
	i := 0
	for j := 0; j < len(lit); j++ {
		if i >= len(s) {
			return 0, false
		}
		r, sz := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, sz = utf8.DecodeRuneInString(s[i:])
		}
		c, ok := asciiFold(r)
		if !ok || c != lit[j] {
			return 0, false
		}
		i += sz
	}
	return i, true
}

// builtinIndex returns the index of the built-in variable named tok (case
// folded), or -1.
func builtinIndex(tok string) int {
	var buf [24]byte
	n := 0
	for i := 0; i < len(tok); {
		if n == len(buf) {
			return -1
		}
		if c := tok[i]; c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
			n++
			i++
			continue
		}
		r, sz := utf8.DecodeRuneInString(tok[i:])
		c, ok := asciiFold(r)
		if !ok {
			return -1
		}
		buf[n] = c
		n++
		i += sz
	}
	return varIndex(buf[:n])
}

// isKeyRune reports whether r is in (?i)[a-zA-Z_].
func isKeyRune(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || r == 'ſ' || r == 'K'
}

// closeAt skips \s* from i and requires "}}"; it returns the end of the match.
func closeAt(s string, i int) (int, bool) {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i+1 < len(s) && s[i] == '}' && s[i+1] == '}' {
		return i + 2, true
	}
	return 0, false
}

// parseStd parses `{{\s*[.$]<tok>\s*}}` at s[p:] (s[p:p+2] == "{{"). tok is the
// maximal run of bytes that are neither \s nor '}', which is exactly what any
// variable name (without spaces or '}') can match.
func parseStd(s string, p int) (tok string, end int, ok bool) {
	i := p + 2
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i >= len(s) || (s[i] != '.' && s[i] != '$') {
		return "", 0, false
	}
	i++
	start := i
	for i < len(s) && !isSpace(s[i]) && s[i] != '}' {
		i++
	}
	if i == start {
		return "", 0, false
	}
	end, ok = closeAt(s, i)
	return s[start:i], end, ok
}

// parseCfg parses `{{\s*.taskConfig[.$](key)\s*}}` at s[p:]. xBrace reports
// that the wildcard '.' consumed a brace.
func parseCfg(s string, p int) (key string, end int, xBrace, ok bool) {
	i := p + 2
	w := i
	for w < len(s) && isSpace(s[w]) {
		w++
	}
	j := -1
	// Greedy \s*: '.' is the first non-space rune ...
	if w < len(s) {
		_, sz := utf8.DecodeRuneInString(s[w:])
		if n, ok := foldPrefix(s[w+sz:], "taskconfig"); ok {
			j = w + sz + n
			xBrace = s[w] == '{' || s[w] == '}'
		}
	}
	// ... or, backtracking, the last space ('.' does not match '\n').
	if j < 0 && w > i && s[w-1] != '\n' {
		if n, ok := foldPrefix(s[w:], "taskconfig"); ok {
			j = w + n
		}
	}
	if j < 0 || j >= len(s) || (s[j] != '.' && s[j] != '$') {
		return "", 0, false, false
	}
	j++
	start := j
	for j < len(s) {
		r, sz := utf8.DecodeRuneInString(s[j:])
		if !isKeyRune(r) {
			break
		}
		j += sz
	}
	if j == start {
		return "", 0, false, false
	}
	end, ok = closeAt(s, j)
	return s[start:j], end, xBrace, ok
}

// stripContainerID mirrors Flyte: strings.Split(id, "://")[1] when "://" occurs.
func stripContainerID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		id = id[i+3:]
		if j := strings.Index(id, "://"); j >= 0 {
			id = id[:j]
		}
	}
	return id
}

// value kinds
const (
	kindNone = iota
	kindStr
	kindNum
)

// renderer holds per-render state; it is cheap and lives on the stack.
type renderer struct {
	in          Input // a copy: a pointer would make escape analysis move the caller's Input to the heap
	containerID string
	// cfgKeys are the taskConfig keys Flyte has appended to its variable list
	// for the current plugin (they accumulate across its dynamic URIs).
	cfgKeys []string
	// shadow: some non-empty extra variable is named like a built-in, so
	// built-in lookups must consult ExtraVars first (Flyte order).
	shadow bool
	num    [24]byte
}

func newRenderer(in *Input) renderer {
	r := renderer{in: *in, containerID: stripContainerID(in.ContainerID)}
	for k, v := range in.ExtraVars {
		if v != "" && builtinIndex(k) >= 0 {
			r.shadow = true
		}
	}
	return r
}

// builtin returns the value of built-in variable i. Strings are substituted
// only when non-empty; numbers always.
func (r *renderer) builtin(i int) (string, int64, int) {
	in := &r.in
	te := &in.TaskExecution
	var s string
	switch i {
	case vLogName:
		s = in.LogName
	case vPodName:
		s = in.PodName
	case vPodUID:
		s = in.PodUID
	case vNamespace:
		s = in.Namespace
	case vContainerName:
		s = in.ContainerName
	case vContainerID:
		s = r.containerID
	case vHostname:
		s = in.HostName
	case vNodeName:
		s = in.NodeName
	case vNodeID:
		s = te.NodeID
	case vGeneratedName:
		s = te.GeneratedName
	case vTaskRetryAttempt:
		return "", int64(te.RetryAttempt), kindNum
	case vTaskID:
		s = te.TaskName
	case vTaskVersion:
		s = te.TaskVersion
	case vTaskProject:
		s = te.TaskProject
	case vTaskDomain:
		s = te.TaskDomain
	case vExecutionName:
		s = te.ExecutionName
	case vExecutionProject:
		s = te.ExecutionProject
	case vExecutionDomain:
		s = te.ExecutionDomain
	case vPodRFC3339StartTime:
		s = in.PodRFC3339StartTime
	case vPodRFC3339FinishTime:
		s = in.PodRFC3339FinishTime
	case vPodUnixStartTime:
		return "", in.PodUnixStartTime, kindNum
	case vPodUnixFinishTime:
		return "", in.PodUnixFinishTime, kindNum
	default:
		return "", 0, kindNone
	}
	if s == "" {
		return "", 0, kindNone
	}
	return s, 0, kindStr
}

// lookupStd returns the value substituted for the standard placeholder tok:
// the first variable in Flyte's order whose name matches and whose value is
// non-empty (logName, extras in key order, other built-ins).
func (r *renderer) lookupStd(tok string) (string, int64, int) {
	idx := builtinIndex(tok)
	if idx == vLogName && r.in.LogName != "" {
		return r.in.LogName, 0, kindStr
	}
	if len(r.in.ExtraVars) > 0 && (idx < 0 || r.shadow) {
		found, bestKey, best := false, "", ""
		for k, v := range r.in.ExtraVars {
			if v != "" && strings.EqualFold(k, tok) && (!found || k < bestKey) {
				found, bestKey, best = true, k, v
			}
		}
		if found {
			return best, 0, kindStr
		}
	}
	if idx > vLogName {
		return r.builtin(idx)
	}
	return "", 0, kindNone
}

// lookupCfg returns the value for a {{ .taskConfig.<key> }} placeholder.
func (r *renderer) lookupCfg(key string) (string, bool) {
	for _, k := range r.cfgKeys {
		if v := r.in.TaskConfig[k]; v != "" && strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// collectCfgKeys appends the taskConfig keys referenced by uri that exist in
// the task config (Flyte: taskConfigVarRegex.FindAllStringSubmatch).
func (r *renderer) collectCfgKeys(uri string) {
	for pos := 0; ; {
		k := strings.Index(uri[pos:], "{{")
		if k < 0 {
			return
		}
		p := pos + k
		key, end, _, ok := parseCfg(uri, p)
		if !ok {
			pos = p + 1
			continue
		}
		if _, found := r.in.TaskConfig[key]; found {
			r.cfgKeys = append(r.cfgKeys, key)
		}
		pos = end
	}
}

// openForm reports whether a, the output written after the last "{{", looks
// like the inside of an unfinished placeholder (`\s*[{}]?[^\s{}]*`, covering
// `\s*[.$]name` and `\s*.taskConfig[.$]key` prefixes). A value written now could
// then complete a placeholder for a later variable in Flyte's sequential
// substitution, so the caller falls back to the sequential emulation.
func openForm(a string) bool {
	i := 0
	for i < len(a) && isSpace(a[i]) {
		i++
	}
	if i < len(a) && (a[i] == '{' || a[i] == '}') {
		i++
	}
	for ; i < len(a); i++ {
		if c := a[i]; isSpace(c) || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// expand renders template s. cfg enables {{ .taskConfig.<key> }} (dynamic
// links). A template without substitutions is returned as is (no allocation).
func (r *renderer) expand(s string, cfg bool) string {
	var b strings.Builder
	replaced := false
	last, openPos := 0, -1
	for pos := 0; ; {
		k := strings.Index(s[pos:], "{{")
		if k < 0 {
			break
		}
		p := pos + k
		str, n, kind := "", int64(0), kindNone
		end, unsafe := 0, false
		if tok, e, ok := parseStd(s, p); ok {
			if str, n, kind = r.lookupStd(tok); kind != kindNone {
				end = e
			}
		}
		if kind == kindNone && cfg {
			if key, e, xBrace, ok := parseCfg(s, p); ok {
				if v, found := r.lookupCfg(key); found {
					// A brace matched by the '.' wildcard is not known to be
					// unsafe; fall back anyway (defensive, rare).
					str, kind, end, unsafe = v, kindStr, e, xBrace
				}
			}
		}
		if kind == kindNone {
			pos = p + 1
			continue
		}
		if !replaced {
			replaced = true
			b.Grow(len(s) + len(str) + 24)
		}
		// Values are brace-free (else fallback), so every "{{" of the output
		// comes from a literal segment of s.
		seg := s[last:p]
		if i := strings.LastIndex(seg, "{{"); i >= 0 {
			openPos = b.Len() + i + 2
		}
		b.WriteString(seg)
		if unsafe || (kind == kindStr && strings.ContainsAny(str, "{}")) || (openPos >= 0 && openForm(b.String()[openPos:])) {
			return r.sequential(s, cfg)
		}
		if kind == kindNum {
			b.Write(strconv.AppendInt(r.num[:0], n, 10))
		} else {
			b.WriteString(str)
		}
		last, pos = end, end
	}
	if !replaced {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// sequential is the literal emulation of Flyte's replaceAll: one pass per
// variable, in order, skipping empty values. Used only for pathological input.
func (r *renderer) sequential(s string, cfg bool) string {
	if v := r.in.LogName; v != "" {
		s = replaceStd(s, func(tok string) bool { return builtinIndex(tok) == vLogName }, v)
	}
	keys := make([]string, 0, len(r.in.ExtraVars))
	for k := range r.in.ExtraVars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := r.in.ExtraVars[k]; v != "" {
			s = replaceStd(s, func(tok string) bool { return strings.EqualFold(tok, k) }, v)
		}
	}
	for i := vLogName + 1; i < numVars; i++ {
		str, n, kind := r.builtin(i)
		if kind == kindNone {
			continue
		}
		if kind == kindNum {
			str = strconv.FormatInt(n, 10)
		}
		s = replaceStd(s, func(tok string) bool { return builtinIndex(tok) == i }, str)
	}
	if cfg {
		for _, k := range r.cfgKeys {
			if v := r.in.TaskConfig[k]; v != "" {
				s = replaceCfg(s, k, v)
			}
		}
	}
	return s
}

// replaceStd replaces every standard placeholder whose name satisfies match
// (leftmost first, non-overlapping, like Regexp.ReplaceAllLiteralString).
func replaceStd(s string, match func(string) bool, v string) string {
	var b strings.Builder
	last, replaced := 0, false
	for pos := 0; ; {
		k := strings.Index(s[pos:], "{{")
		if k < 0 {
			break
		}
		p := pos + k
		if tok, end, ok := parseStd(s, p); ok && match(tok) {
			b.WriteString(s[last:p])
			b.WriteString(v)
			last, pos, replaced = end, end, true
			continue
		}
		pos = p + 1
	}
	if !replaced {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// replaceCfg replaces every {{ .taskConfig.<key> }} placeholder for key.
func replaceCfg(s, key, v string) string {
	var b strings.Builder
	last, replaced := 0, false
	for pos := 0; ; {
		k := strings.Index(s[pos:], "{{")
		if k < 0 {
			break
		}
		p := pos + k
		if tok, end, _, ok := parseCfg(s, p); ok && strings.EqualFold(tok, key) {
			b.WriteString(s[last:p])
			b.WriteString(v)
			last, pos, replaced = end, end, true
			continue
		}
		pos = p + 1
	}
	if !replaced {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
