// Package e2e tests flyte-admission against a real kube-apiserver and etcd
// (envtest on binaries built from the module proxy) with the operators' real
// CRDs and the real kubectl.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestExpandedExamplesMatchCRDSchemas creates every expanded example on the
// real apiserver with dryRun=All: the operators' CRD schemas (structural
// schema, required fields, CEL rules) accept what the expansion produces.
func TestExpandedExamplesMatchCRDSchemas(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	cfg, err := config.Load("../../examples/config/plugins.yaml")
	require.NoError(t, err)
	x := &expand.Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: cfg, Templates: objects.PodTemplates{}}}
	objs, err := objects.ReadPath("../../examples")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checked := 0
	for _, o := range objs {
		res, err := x.Expand(ctx, o.Map, nil)
		require.NoError(t, err, o.Describe())
		u := &unstructured.Unstructured{Object: expand.Plain(res.Object())}
		if u.GetKind() == "Namespace" {
			require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(ctx, u)))
			continue
		}
		require.NoError(t, env.Client.Create(ctx, u, client.DryRunAll), "%s: the CRD schema refused the expansion", o.Describe())
		checked++
	}
	require.GreaterOrEqual(t, checked, 9)
}
