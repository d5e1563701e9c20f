package testenv_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyte-admission/flyte-admission/test/testenv"
)

const namespace = "testenv"

// objects are minimal objects that the operators' CRD schemas accept.
const objects = `apiVersion: v1
kind: Namespace
metadata:
  name: testenv
---
apiVersion: kubernetes.dask.org/v1
kind: DaskJob
metadata:
  name: dask-min
  namespace: testenv
spec:
  job:
    spec:
      containers:
      - name: job
        image: ghcr.io/dask/dask:latest
        args: ["python", "-c", "print(1)"]
  cluster:
    spec:
      scheduler:
        spec:
          containers:
          - name: scheduler
            image: ghcr.io/dask/dask:latest
            args: ["dask-scheduler"]
        service:
          type: ClusterIP
          selector:
            dask.org/component: scheduler
          ports:
          - name: tcp-comm
            port: 8786
            protocol: TCP
            targetPort: tcp-comm
      worker:
        replicas: 2
        spec:
          containers:
          - name: worker
            image: ghcr.io/dask/dask:latest
            args: ["dask-worker", "--name", "$(DASK_WORKER_NAME)"]
---
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: spark-min
  namespace: testenv
spec:
  type: Python
  mode: cluster
  sparkVersion: "3.5.3"
  image: spark:3.5.3
  mainApplicationFile: local:///opt/spark/examples/src/main/python/pi.py
  driver:
    cores: 1
    memory: 512m
  executor:
    instances: 2
    cores: 1
    memory: 512m
---
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: ray-min
  namespace: testenv
spec:
  entrypoint: python -c "print(1)"
  shutdownAfterJobFinishes: true
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.41.0
`

func TestEnv(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("crds_established", func(t *testing.T) {
		for _, name := range []string{
			"sparkapplications.sparkoperator.k8s.io",
			"scheduledsparkapplications.sparkoperator.k8s.io",
			"rayjobs.ray.io",
			"rayclusters.ray.io",
			"daskjobs.kubernetes.dask.org",
			"daskclusters.kubernetes.dask.org",
			"daskworkergroups.kubernetes.dask.org",
			"daskautoscalers.kubernetes.dask.org",
		} {
			var crd apiextensionsv1.CustomResourceDefinition
			require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: name}, &crd))
			require.True(t, hasCondition(crd, apiextensionsv1.Established), "%s not established: %+v", name, crd.Status.Conditions)
			require.True(t, hasCondition(crd, apiextensionsv1.NamesAccepted), "%s names not accepted: %+v", name, crd.Status.Conditions)
		}
	})

	t.Run("kubectl_version", func(t *testing.T) {
		want := "v" + envOr("K8S_VERSION", "1.37.0") // hack/build-control-plane.sh's knob
		stdout, _, err := env.Kubectl(ctx, nil, "version", "-o", "json")
		require.NoError(t, err)
		var v struct {
			ServerVersion struct {
				GitVersion string `json:"gitVersion"`
			} `json:"serverVersion"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout), &v), "stdout: %s", stdout)
		require.Equal(t, want, v.ServerVersion.GitVersion)
	})

	t.Run("kubectl_apply_and_read_back", func(t *testing.T) {
		stdout, stderr, err := env.Kubectl(ctx, []byte(objects), "apply", "-f", "-")
		require.NoError(t, err, "stdout: %s\nstderr: %s", stdout, stderr)
		for _, s := range []string{
			"namespace/testenv created",
			"daskjob.kubernetes.dask.org/dask-min created",
			"sparkapplication.sparkoperator.k8s.io/spark-min created",
			"rayjob.ray.io/ray-min created",
		} {
			require.Contains(t, stdout, s)
		}

		var dj daskv1.DaskJob
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "dask-min"}, &dj))
		require.Equal(t, "job", dj.Spec.Job.Spec.Containers[0].Name)
		require.Equal(t, 2, dj.Spec.Cluster.Spec.Worker.Replicas)
		require.Equal(t, int32(8786), dj.Spec.Cluster.Spec.Scheduler.Service.Ports[0].Port)

		var sa sparkv1beta2.SparkApplication
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "spark-min"}, &sa))
		require.Equal(t, sparkv1beta2.SparkApplicationTypePython, sa.Spec.Type)
		require.Equal(t, "3.5.3", sa.Spec.SparkVersion)
		require.NotNil(t, sa.Spec.Executor.Instances)
		require.Equal(t, int32(2), *sa.Spec.Executor.Instances)

		var rj rayv1.RayJob
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "ray-min"}, &rj))
		require.Equal(t, `python -c "print(1)"`, rj.Spec.Entrypoint)
		require.NotNil(t, rj.Spec.RayClusterSpec)
		require.Equal(t, "rayproject/ray:2.41.0", rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers[0].Image)

		// Re-applying the same objects is a no-op.
		stdout, _, err = env.Kubectl(ctx, []byte(objects), "apply", "-f", "-")
		require.NoError(t, err)
		require.Equal(t, 4, strings.Count(stdout, " unchanged"), stdout)
	})

	t.Run("crd_schema_enforced", func(t *testing.T) {
		invalid := strings.Replace(objects[strings.Index(objects, "apiVersion: sparkoperator"):strings.Index(objects, "---\napiVersion: ray.io")],
			"  sparkVersion: \"3.5.3\"\n", "", 1)
		invalid = strings.Replace(invalid, "name: spark-min", "name: spark-invalid", 1)
		_, stderr, err := env.Kubectl(ctx, []byte(invalid), "apply", "-f", "-")
		require.Error(t, err)
		require.Contains(t, stderr, "spec.sparkVersion: Required value")
	})
}

func hasCondition(crd apiextensionsv1.CustomResourceDefinition, typ apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == typ && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
