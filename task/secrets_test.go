package task

import (
	"strings"
	"testing"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/stretchr/testify/require"
)

// TestSecretText pins the bytes of golang/protobuf v1.5.4's
// proto.MarshalTextString and their Flyte base32 encoding, as produced by that
// library itself for each secret (the db/url one is also in the flytekit
// conformance case dask_secrets_labels, built by flyteplugins v1.16.8).
func TestSecretText(t *testing.T) {
	cases := []struct {
		name    string
		secret  *core.Secret
		text    string
		encoded string
	}{
		{name: "empty secret", secret: &core.Secret{}, text: "", encoded: ""},
		{name: "group, key, env-var mount",
			secret:  &core.Secret{Group: "db", Key: "url", MountRequirement: core.Secret_ENV_VAR},
			text:    "group: \"db\"\nkey: \"url\"\nmount_requirement: ENV_VAR\n",
			encoded: "m4zg54lqhiqcezdceifgwzlzhiqce4lsnqrau2lpovxhix2smvyxk1lsmvwwk2tuhiqektswl4lecuqk"},
		{name: "every field",
			secret:  &core.Secret{Group: "aws", GroupVersion: "v2", Key: "token", MountRequirement: core.Secret_FILE, EnvVar: "AWS_TOKEN"},
			text:    "group: \"aws\"\ngroup_version: \"v2\"\nkey: \"token\"\nmount_requirement: FILE\nenv_var: \"AWS_TOKEN\"\n",
			encoded: "m4zg54lqhiqceylxomrauz2sn41xax2wmvzhg1lpny4caitwgirau12fpe4caitun4vwk2rcbjww54loorpxezlrovuxezlnmvxhioraizeuyrikmvxhmx2wmfzduibciflvgx1uj4fuktrcbi"},
		{name: "ANY mount requirement is not written", secret: &core.Secret{Group: "g", MountRequirement: core.Secret_ANY},
			text: "group: \"g\"\n", encoded: "m4zg54lqhiqcezzcbi"},
		{name: "key only", secret: &core.Secret{Key: "k"}, text: "key: \"k\"\n", encoded: "nnsxsoraejvsecq"},
		{name: "escapes and non-ASCII bytes in octal",
			secret:  &core.Secret{Group: "quote\"back\\slash\ttab\nnl\rcr", Key: "ünï€", EnvVar: "\x00\x7f "},
			text:    "group: \"quote\\\"back\\\\slash\\ttab\\nnl\\rcr\"\nkey: \"\\303\\274n\\303\\257\\342\\202\\254\"\nenv_var: \"\\000\\177 \"\n",
			encoded: "m4zg54lqhiqce3lvn41gkxbcmjqwg113lrzwyyltnbohi4dbmjog32tmlrzgg3rcbjvwk5j1earfymzqgnodenzunzodgmbtlqzdkn13gm1dexbsgazfymrvgqrauzloozpxmylshiqcexbqgayfymjxg3qcecq"},
		{name: "unknown mount requirement by number", secret: &core.Secret{Group: "g", MountRequirement: 7},
			text: "group: \"g\"\nmount_requirement: 7\n", encoded: "m4zg54lqhiqcezzcbjww54loorpxezlrovuxezlnmvxhiorag3fa"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.text, SecretText(c.secret))
			require.Equal(t, c.encoded, secretEncoding.EncodeToString([]byte(SecretText(c.secret))))
		})
	}
}

func TestSecretAnnotations(t *testing.T) {
	got, err := SecretAnnotations([]*core.Secret{
		{Group: "db", Key: "url", MountRequirement: core.Secret_ENV_VAR},
		{Key: "k"},
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"flyte.secrets/s0": "m4zg54lqhiqcezdceifgwzlzhiqce4lsnqrau2lpovxhix2smvyxk1lsmvwwk2tuhiqektswl4lecuqk",
		"flyte.secrets/s1": "nnsxsoraejvsecq",
	}, got)

	_, err = SecretAnnotations([]*core.Secret{{Key: "k"}, {Group: "g", MountRequirement: 7}})
	require.EqualError(t, err, TemplateField+".securityContext.secrets[1].mountRequirement: invalid mount requirement [7]")

	_, err = SecretAnnotations([]*core.Secret{{Group: strings.Repeat("g", 170<<10)}})
	require.ErrorContains(t, err, TemplateField+".securityContext.secrets[0]: secret descriptor cannot exceed [262144]")
}

func TestDecodeTemplateRefusesUnknownMountRequirement(t *testing.T) {
	_, err := DecodeTemplate(`{"type":"dask","securityContext":{"secrets":[{"group":"g","mountRequirement":7}]}}`)
	require.ErrorContains(t, err, "securityContext.secrets[0].mountRequirement: invalid mount requirement [7]")
	tt, err := DecodeTemplate(`{"type":"dask","securityContext":{"secrets":[{"group":"g","mountRequirement":"FILE"}]}}`)
	require.NoError(t, err)
	require.Len(t, tt.GetSecurityContext().GetSecrets(), 1)
}
