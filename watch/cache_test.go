package watch

import (
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestTransform(t *testing.T) {
	transform := Transform(builtin.Registry())
	big := strings.Repeat("x", MaxCachedAnnotationBytes+1)
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: "job", Namespace: "ns", UID: "u1", ResourceVersion: "7", Generation: 2,
			Labels:        map[string]string{"team": "a"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Annotations: map[string]string{
				task.TemplateAnnotation:  big, // kept however big: Phase reads it
				task.ExecutionAnnotation: `{"name":"e"}`,
				PhaseAnnotation:          "Running",
				LastAppliedAnnotation:    `{"spec":{}}`,
				"example.com/huge":       big,
				"example.com/small":      "s",
			},
		}
	}

	t.Run("a watched kind keeps metadata and status, loses the spec", func(t *testing.T) {
		app := &sparkv1beta2.SparkApplication{ObjectMeta: meta()}
		app.Spec.Image = ptr.To("spark:3")
		app.Spec.MainApplicationFile = ptr.To("local:///app.py")
		app.Status.AppState.State = sparkv1beta2.ApplicationStateRunning
		out, err := transform(app)
		require.NoError(t, err)
		got := out.(*sparkv1beta2.SparkApplication)
		require.Equal(t, sparkv1beta2.SparkApplicationSpec{}, got.Spec)
		require.Equal(t, sparkv1beta2.ApplicationStateRunning, got.Status.AppState.State)
		require.Nil(t, got.ManagedFields)
		require.Equal(t, map[string]string{
			task.TemplateAnnotation: big, task.ExecutionAnnotation: `{"name":"e"}`, PhaseAnnotation: "Running", "example.com/small": "s",
		}, got.Annotations)
		require.Equal(t, "u1", string(got.UID))
		require.Equal(t, "7", got.ResourceVersion)
		require.Equal(t, int64(2), got.Generation)
		require.Equal(t, map[string]string{"team": "a"}, got.Labels)
	})

	t.Run("an unstructured watched kind loses the spec", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "ray.io/v1", "kind": "RayJob",
			"metadata": map[string]any{"name": "r", "annotations": map[string]any{LastAppliedAnnotation: "{}"}},
			"spec":     map[string]any{"entrypoint": "python x.py"},
			"status":   map[string]any{"jobDeploymentStatus": "Running"},
		}}
		out, err := transform(u)
		require.NoError(t, err)
		got := out.(*unstructured.Unstructured)
		require.NotContains(t, got.Object, "spec")
		require.Equal(t, map[string]any{"jobDeploymentStatus": "Running"}, got.Object["status"])
		require.Empty(t, got.GetAnnotations())
	})

	t.Run("other objects only lose managedFields", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: meta(), Spec: corev1.PodSpec{NodeName: "n1"}}
		out, err := transform(pod)
		require.NoError(t, err)
		got := out.(*corev1.Pod)
		require.Nil(t, got.ManagedFields)
		require.Equal(t, "n1", got.Spec.NodeName)
		require.Len(t, got.Annotations, 6)
	})

	t.Run("a CRD loses its schemas", func(t *testing.T) {
		crd := &apiextensionsv1.CustomResourceDefinition{
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "ray.io",
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "RayJob", Plural: "rayjobs"},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema:                   &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}},
					AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "status"}},
				}},
			},
			Status: apiextensionsv1.CustomResourceDefinitionStatus{Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{
				{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
			}},
		}
		out, err := transform(crd)
		require.NoError(t, err)
		got := out.(*apiextensionsv1.CustomResourceDefinition)
		require.Equal(t, []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true}}, got.Spec.Versions)
		require.True(t, established(got))
		require.True(t, serves(got, "v1"))
		require.False(t, serves(got, "v2"))
	})

	t.Run("a tombstone passes through", func(t *testing.T) {
		tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/job"}
		out, err := transform(tomb)
		require.NoError(t, err)
		require.Equal(t, tomb, out)
	})
}
