package task

import (
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// SecretAnnotationPrefix starts the annotation flytepropeller adds for each
// secret a task requests (flyte.secrets/s0, flyte.secrets/s1, ...).
const SecretAnnotationPrefix = "flyte.secrets/s"

// maxSecretAnnotationBytes is Flyte's limit on one encoded secret (the
// Kubernetes total annotation size).
const maxSecretAnnotationBytes = 256 << 10

// secretEncoding is Flyte's base32 alphabet, without padding.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz123456").WithPadding(base32.NoPadding)

// SecretAnnotations returns one flyte.secrets/s<i> annotation per secret,
// byte-identical to flyteplugins v1.16.8's secrets.MarshalSecretsToMapStrings:
// the secret in golang/protobuf's text format (proto.MarshalTextString),
// base32-encoded with Flyte's alphabet. Like Flyte, it refuses an unknown
// mount requirement and an encoded secret over 256 KiB.
func SecretAnnotations(secrets []*core.Secret) (map[string]string, error) {
	out := make(map[string]string, len(secrets))
	for i, s := range secrets {
		field := TemplateField + ".securityContext.secrets[" + strconv.Itoa(i) + "]"
		if _, ok := core.Secret_MountType_name[int32(s.GetMountRequirement())]; !ok {
			return nil, &Error{Field: field + ".mountRequirement", Err: fmt.Errorf("invalid mount requirement [%d]", s.GetMountRequirement())}
		}
		enc := secretEncoding.EncodeToString([]byte(SecretText(s)))
		if len(enc) > maxSecretAnnotationBytes {
			return nil, &Error{Field: field, Err: fmt.Errorf("secret descriptor cannot exceed [%d]", maxSecretAnnotationBytes)}
		}
		out[SecretAnnotationPrefix+strconv.Itoa(i)] = enc
	}
	return out, nil
}

// SecretText is a Secret in the text format of golang/protobuf v1.5.4's
// proto.MarshalTextString, which Flyte uses: one "name: value" line per set
// field in field-number order, strings double-quoted with C escapes, the
// enum by name. Unlike google.golang.org/protobuf's prototext, whose spacing
// changes from build to build on purpose, it is the same bytes every time.
func SecretText(s *core.Secret) string {
	var b strings.Builder
	field := func(name, v string) {
		if v == "" {
			return
		}
		b.WriteString(name)
		b.WriteString(": ")
		writeQuoted(&b, v)
		b.WriteByte('\n')
	}
	field("group", s.GetGroup())
	field("group_version", s.GetGroupVersion())
	field("key", s.GetKey())
	if m := s.GetMountRequirement(); m != core.Secret_ANY {
		b.WriteString("mount_requirement: ")
		if name, ok := core.Secret_MountType_name[int32(m)]; ok {
			b.WriteString(name)
		} else {
			b.WriteString(strconv.Itoa(int(m)))
		}
		b.WriteByte('\n')
	}
	field("env_var", s.GetEnvVar())
	return b.String()
}

// writeQuoted writes s as golang/protobuf's text marshaler quotes a string:
// byte by byte, \n \r \t \" \\ escaped, other bytes outside printable ASCII
// (UTF-8 included) as three-digit octal.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if c >= 0x20 && c < 0x7f {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(b, `\%03o`, c)
			}
		}
	}
	b.WriteByte('"')
}
