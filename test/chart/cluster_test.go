package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/flyte-admission/flyte-admission/test/servelog"
	"github.com/flyte-admission/flyte-admission/test/syncbuf"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// cert-manager's CRDs come from its module, at this version (its
// deploy/crds holds the CRDs that controller-gen generates from its Go types).
const (
	certManagerModule  = "github.com/cert-manager/cert-manager"
	certManagerVersion = "v1.21.2"
)

var certManagerCRDFiles = []string{
	"cert-manager.io_certificates.yaml",
	"cert-manager.io_issuers.yaml",
	"cert-manager.io_clusterissuers.yaml",
	"cert-manager.io_certificaterequests.yaml",
}

// certManagerCRDs returns the paths of cert-manager's CRDs in the module
// cache, downloading the module (`go mod download -json`, outside this
// module so that go.mod and go.sum stay untouched) when it is not there yet.
func certManagerCRDs(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", certManagerModule+"@"+certManagerVersion)
	cmd.Dir = t.TempDir() // no go.mod: a plain module download
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	require.NoError(t, json.Unmarshal(out, &info), "go mod download -json %s@%s: %v: %s", certManagerModule, certManagerVersion, err, stderr.String())
	require.Empty(t, info.Error, "go mod download %s@%s", certManagerModule, certManagerVersion)
	require.NoError(t, err, stderr.String())
	var paths []string
	for _, f := range certManagerCRDFiles {
		p := filepath.Join(info.Dir, "deploy", "crds", f)
		_, err := os.Stat(p)
		require.NoError(t, err, "cert-manager %s ships no %s", certManagerVersion, f)
		paths = append(paths, p)
	}
	return paths
}

// kube runs kubectl against the test control plane.
type kube struct {
	*testenv.Env
}

func (k kube) run(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return k.Kubectl(ctx, stdin, args...)
}

func (k kube) must(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, stderr, err := k.run(t, stdin, args...)
	require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), stderr)
	return out
}

// namespace creates a namespace with labels (for real).
func (k kube) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	data, err := yaml.Marshal(ns)
	require.NoError(t, err)
	k.must(t, data, "apply", "-f", "-")
}

// serverWarnings are the apiserver's warnings in kubectl's stderr (not
// kubectl's own version-skew notice).
func serverWarnings(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning: ") {
			out = append(out, l)
		}
	}
	return out
}

// criticalQuotaAdmission configures ResourceQuota admission as GKE does (and
// as the Kubernetes docs recommend for the critical priority classes): pods
// of system-node-critical or system-cluster-critical are admitted only in a
// namespace with a ResourceQuota scoped to their class.
const criticalQuotaAdmission = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ResourceQuota
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: ResourceQuotaConfiguration
      limitedResources:
        - resource: pods
          matchScopes:
            - scopeName: PriorityClass
              operator: In
              values: [system-node-critical, system-cluster-critical]
`

func TestCluster(t *testing.T) {
	admissionConfig := filepath.Join(t.TempDir(), "admission.yaml")
	require.NoError(t, os.WriteFile(admissionConfig, []byte(criticalQuotaAdmission), 0o600))
	env := testenv.Start(t, testenv.Options{ExtraCRDPaths: certManagerCRDs(t),
		APIServerFlags: map[string]string{"admission-control-config-file": admissionConfig}})
	k := kube{env}
	// A namespace where users create jobs.
	k.namespace(t, "team-a", nil)

	t.Run("every rendered object is accepted by the apiserver", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			rel  release
		}{
			{"defaults", release{Name: "flyte-admission", Namespace: "dry-defaults"}},
			{"ha", release{Name: "flyte-admission", Namespace: "dry-ha", Files: []string{haValues}}},
			{"cert-manager", release{Name: "flyte-admission", Namespace: "dry-cert-manager", Values: certManagerRelease.Values}},
			{"cert-manager with a ClusterIssuer", release{Name: "fa", Namespace: "dry-cluster-issuer", Values: map[string]any{"certs": map[string]any{
				"mode": "cert-manager", "certManager": map[string]any{"issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "corp-ca", "group": "cert-manager.io"}}}}}},
			{"examples, monitoring, no watcher", release{Name: "fa", Namespace: "dry-examples", Values: mergeValues(monitoringValues, map[string]any{
				"config": readYAML(t, examplesDir+"/plugins.yaml"), "policies": readYAML(t, examplesDir+"/policies.yaml"),
				"watcher": map[string]any{"enabled": false}, "podDisruptionBudget": map[string]any{"minAvailable": "50%"}})}},
			{"network policy and client certificates", release{Name: "fa", Namespace: "dry-access", Values: mergeValues(networkPolicyValues, clientAuthValues)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := mustRender(t, tc.rel)
				// warn=restricted: the apiserver warns about any pod template
				// that breaks the "restricted" Pod Security Standard.
				k.namespace(t, tc.rel.Namespace, map[string]string{"pod-security.kubernetes.io/warn": "restricted"})
				var objs []*unstructured.Unstructured
				for _, o := range r.Objects {
					if o.GroupVersionKind().Group == "monitoring.coreos.com" {
						// No CRD to check them against: the Prometheus Operator
						// module that ships them is not on the module proxy.
						t.Logf("not applied (no monitoring.coreos.com CRDs): %s %s", o.GetKind(), o.GetName())
						continue
					}
					objs = append(objs, o)
				}
				out, stderr, err := k.run(t, yamlOf(t, objs), "apply", "--dry-run=server", "--validate=strict", "-f", "-")
				require.NoError(t, err, "server-side dry-run of %s:\n%s", r.names(), stderr)
				require.Empty(t, serverWarnings(stderr), "the apiserver warned")
				lines := strings.Split(strings.TrimSpace(out), "\n")
				require.Len(t, lines, len(objs), "one line per object:\n%s", out)
				for _, l := range lines {
					require.True(t, strings.HasSuffix(l, "(server dry run)"), l)
				}
			})
		}
	})

	t.Run("the pods meet the restricted Pod Security Standard", func(t *testing.T) {
		const ns = "pss-restricted"
		k.namespace(t, ns, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		for name, rel := range map[string]release{
			"defaults":     {Name: "flyte-admission", Namespace: ns},
			"ha":           {Name: "flyte-admission", Namespace: ns, Files: []string{haValues}},
			"cert-manager": {Name: "flyte-admission", Namespace: ns, Values: certManagerRelease.Values},
		} {
			t.Run(name, func(t *testing.T) {
				r := mustRender(t, rel)
				k.must(t, yamlOf(t, []*unstructured.Unstructured{r.get(t, "ServiceAccount", "flyte-admission")}), "apply", "-f", "-")
				var d appsv1.Deployment
				into(t, r.get(t, "Deployment", "flyte-admission"), &d)
				// ha's critical priority class would need the quota in this
				// namespace (the quota subtest below covers it).
				d.Spec.Template.Spec.PriorityClassName = ""
				pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
					ObjectMeta: metav1.ObjectMeta{Name: "pss-" + name, Namespace: ns, Labels: d.Spec.Template.Labels},
					Spec:       d.Spec.Template.Spec}
				data, err := yaml.Marshal(pod)
				require.NoError(t, err)
				_, stderr, err := k.run(t, data, "create", "--dry-run=server", "-f", "-")
				require.NoError(t, err, "the Deployment's pod is refused in a restricted namespace: %s", stderr)

				// The check is live: a container keeping its capabilities is refused.
				pod.Spec.Containers[0].SecurityContext.Capabilities = nil
				data, err = yaml.Marshal(pod)
				require.NoError(t, err)
				_, stderr, err = k.run(t, data, "create", "--dry-run=server", "-f", "-")
				require.Error(t, err)
				require.Contains(t, stderr, "violates PodSecurity")
			})
		}
	})

	t.Run("the HA preset's critical pods are admitted outside kube-system thanks to the chart's quota", func(t *testing.T) {
		const ns = "quota-ha"
		k.namespace(t, ns, nil)
		r := mustRender(t, release{Name: "flyte-admission", Namespace: ns, Files: []string{haValues}})
		applyKinds(t, k, r, "ServiceAccount")
		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		require.Equal(t, "system-cluster-critical", d.Spec.Template.Spec.PriorityClassName)
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "critical", Namespace: ns, Labels: d.Spec.Template.Labels},
			Spec:       d.Spec.Template.Spec}
		data, err := yaml.Marshal(pod)
		require.NoError(t, err)

		_, stderr, err := k.run(t, data, "create", "--dry-run=server", "-f", "-")
		require.Error(t, err, "a critical pod was admitted in a namespace without a quota: the check is not live")
		require.Contains(t, stderr, "insufficient quota to match these scopes")

		quota := r.get(t, "ResourceQuota", "flyte-admission-system-cluster-critical")
		applyKinds(t, k, r, "ResourceQuota")
		// No kube-controller-manager here: fill the status as its quota
		// controller would (admission checks usage against status.hard).
		hard, _ := lookup(quota.Object, []string{"spec", "hard", "pods"})
		k.must(t, nil, "-n", ns, "patch", "resourcequota", quota.GetName(), "--subresource=status", "--type=merge",
			"-p", fmt.Sprintf(`{"status":{"hard":{"pods":%q},"used":{"pods":"0"}}}`, hard))
		_, stderr, err = k.run(t, data, "create", "--dry-run=server", "-f", "-")
		require.NoError(t, err, "the HA preset's pod is refused next to the chart's quota: %s", stderr)
	})

	t.Run("the ServiceAccount can do what the server needs and nothing else", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			rel   release
			self  bool
			watch bool
		}{
			{"self-managed certificates", release{Name: "rbac", Namespace: "rbac-self"}, true, true},
			{"cert-manager", release{Name: "rbac-cm", Namespace: "rbac-cm", Values: certManagerRelease.Values}, false, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ns := tc.rel.Namespace
				r := mustRender(t, tc.rel)
				k.namespace(t, ns, nil)
				applyKinds(t, k, r, "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
				fullname := tc.rel.Name + "-flyte-admission"
				sa := serviceAccount{k: k, ns: ns, name: fullname}
				secret := "secrets/" + fullname + "-certs"
				lease := "leases.coordination.k8s.io/flyte-admission-watch" // serve's fixed LeaderElectionID

				// PodTemplate lookups: always.
				need := [][]string{{"list", "podtemplates", "-A"}, {"watch", "podtemplates", "-A"}}
				never := [][]string{
					{"create", "podtemplates", "-n", ns}, {"delete", "podtemplates", "-n", "team-a"},
					// No workloads, no other objects, no RBAC games.
					{"delete", "jobs.batch", "-n", "team-a"}, {"create", "jobs.batch", "-n", "team-a"},
					{"delete", "jobs.batch", "-n", ns}, {"create", "pods", "-n", "team-a"}, {"delete", "pods", "-n", ns},
					{"get", "configmaps", "-n", "team-a"}, {"update", "configmaps/" + fullname + "-config", "-n", ns},
					{"impersonate", "serviceaccounts"}, {"escalate", "clusterroles"}, {"bind", "clusterroles"},
					{"create", "clusterrolebindings"}, {"update", "roles/" + fullname, "-n", ns},
					// Other webhook configurations, and ours beyond get/patch.
					{"patch", "mutatingwebhookconfigurations/other-webhook"}, {"patch", "validatingwebhookconfigurations/other-webhook"},
					{"get", "mutatingwebhookconfigurations/other-webhook"}, {"list", "mutatingwebhookconfigurations"},
					{"create", "mutatingwebhookconfigurations"}, {"create", "validatingwebhookconfigurations"},
					{"delete", "mutatingwebhookconfigurations/" + fullname}, {"update", "validatingwebhookconfigurations/" + fullname},
					{"patch", "validatingadmissionpolicies.admissionregistration.k8s.io/" + fullname},
					{"delete", "validatingadmissionpolicybindings.admissionregistration.k8s.io/" + fullname + "-metadata-only"},
					// Secrets: none in other namespaces, only ours in its own.
					{"get", "secrets", "-n", "team-a"}, {"get", secret, "-n", "team-a"}, {"get", "secrets", "-n", "kube-system"},
					{"list", "secrets", "-A"}, {"get", "secrets/other", "-n", ns}, {"update", "secrets/other", "-n", ns},
					{"list", "secrets", "-n", ns}, {"watch", "secrets", "-n", ns}, {"delete", secret, "-n", ns}, {"patch", secret, "-n", ns},
					// The three kinds: no spec updates, no status, no create or delete.
					{"update", "sparkapplications.sparkoperator.k8s.io", "-n", "team-a"}, {"update", "rayjobs.ray.io", "-n", "team-a"},
					{"update", "daskjobs.kubernetes.dask.org", "-n", "team-a"},
					{"patch", "sparkapplications.sparkoperator.k8s.io", "--subresource=status", "-n", "team-a"},
					{"update", "rayjobs.ray.io", "--subresource=status", "-n", "team-a"},
					{"create", "rayjobs.ray.io", "-n", "team-a"}, {"delete", "daskjobs.kubernetes.dask.org", "-n", "team-a"},
					{"deletecollection", "sparkapplications.sparkoperator.k8s.io", "-n", "team-a"},
					{"get", "rayclusters.ray.io", "-n", "team-a"}, {"patch", "scheduledsparkapplications.sparkoperator.k8s.io", "-n", "team-a"},
					// CRDs: read only.
					{"update", "customresourcedefinitions.apiextensions.k8s.io"}, {"delete", "customresourcedefinitions.apiextensions.k8s.io"},
					// Leases and core Events: only in its namespace, only its Lease by name.
					{"get", "leases.coordination.k8s.io/other", "-n", ns}, {"update", "leases.coordination.k8s.io/other", "-n", ns},
					{"delete", lease, "-n", ns}, {"list", "leases.coordination.k8s.io", "-n", ns},
					{"create", "leases.coordination.k8s.io", "-n", "team-a"}, {"update", lease, "-n", "team-a"},
					{"create", "events", "-n", "team-a"}, {"delete", "events.events.k8s.io", "-n", "team-a"},
				}
				certs := [][]string{
					{"get", "mutatingwebhookconfigurations/" + fullname}, {"patch", "mutatingwebhookconfigurations/" + fullname},
					{"get", "validatingwebhookconfigurations/" + fullname}, {"patch", "validatingwebhookconfigurations/" + fullname},
					{"create", "secrets", "-n", ns}, {"get", secret, "-n", ns}, {"update", secret, "-n", ns},
				}
				if tc.self {
					need = append(need, certs...)
				} else {
					never = append(never, certs...)
				}
				watcher := [][]string{
					{"get", "customresourcedefinitions.apiextensions.k8s.io"}, {"list", "customresourcedefinitions.apiextensions.k8s.io"},
					{"watch", "customresourcedefinitions.apiextensions.k8s.io"},
					{"create", "events.events.k8s.io", "-n", "team-a"}, {"patch", "events.events.k8s.io", "-n", "team-a"},
					{"create", "leases.coordination.k8s.io", "-n", ns}, {"get", lease, "-n", ns}, {"update", lease, "-n", ns},
					{"create", "events", "-n", ns},
				}
				for _, kind := range []string{"sparkapplications.sparkoperator.k8s.io", "rayjobs.ray.io", "daskjobs.kubernetes.dask.org"} {
					watcher = append(watcher, []string{"list", kind, "-A"}, []string{"watch", kind, "-A"},
						[]string{"get", kind, "-n", "team-a"}, []string{"patch", kind, "-n", "team-a"})
				}
				if tc.watch {
					need = append(need, watcher...)
				} else {
					never = append(never, watcher...)
				}

				// kubectl auth can-i, four at a time.
				var (
					mu    sync.Mutex
					wg    sync.WaitGroup
					wrong []string
					slots = make(chan struct{}, 4)
				)
				check := func(q []string, want bool, msg string) {
					defer wg.Done()
					slots <- struct{}{}
					defer func() { <-slots }()
					if sa.can(t, q...) != want {
						mu.Lock()
						wrong = append(wrong, msg+strings.Join(q, " "))
						mu.Unlock()
					}
				}
				for _, q := range need {
					wg.Add(1)
					go check(q, true, "denied but needed: ")
				}
				for _, q := range never {
					wg.Add(1)
					go check(q, false, "allowed but not needed: ")
				}
				wg.Wait()
				sort.Strings(wrong)
				require.Empty(t, wrong, "kubectl auth can-i --as=system:serviceaccount:%s:%s", ns, fullname)
				t.Logf("%d permissions checked allowed, %d denied", len(need), len(never))
			})
		}
	})

	t.Run("the ServiceAccount may change only the metadata of the three kinds", func(t *testing.T) {
		// After "can do what the server needs": the RBAC of release rbac in
		// namespace rbac-self exists.
		r := mustRender(t, release{Name: "rbac", Namespace: "rbac-self"})
		applyKinds(t, k, r, "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
		var guard []*unstructured.Unstructured
		for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
			guard = append(guard, r.get(t, kind, "rbac-flyte-admission-metadata-only"))
		}
		k.must(t, yamlOf(t, guard), "apply", "-f", "-")
		sa := serviceAccount{k: k, ns: "rbac-self", name: "rbac-flyte-admission"}

		k.must(t, []byte(`{"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "guarded", "namespace": "team-a"},
			"spec": {"entrypoint": "python -c 'print(1)'"}}`), "create", "-f", "-")
		// Each attempt changes the spec to a new value (a no-op patch would
		// pass any policy); the policy takes effect a moment after it is created.
		attempt := 0
		specPatch := func() []string {
			attempt++
			return []string{"patch", "rayjobs.ray.io/guarded", "-n", "team-a", "--type=merge",
				"-p", fmt.Sprintf(`{"spec":{"entrypoint":"python -c 'print(%d)'"}}`, attempt)}
		}
		entrypoint := func() string {
			return k.must(t, nil, "get", "rayjobs.ray.io/guarded", "-n", "team-a", "-o", "jsonpath={.spec.entrypoint}")
		}
		var stderr string
		require.Eventually(t, func() bool {
			_, stderr, _ = sa.kubectl(t, specPatch()...)
			return strings.Contains(stderr, "may change only the metadata")
		}, time.Minute, 250*time.Millisecond, "the policy never refused a spec change by the ServiceAccount")
		t.Logf("spec patch refused: %s", strings.TrimSpace(stderr))
		before := entrypoint()
		_, stderr, err := sa.kubectl(t, specPatch()...)
		require.Error(t, err)
		require.Contains(t, stderr, "may change only the metadata")
		require.Equal(t, before, entrypoint())

		_, stderr, err = sa.kubectl(t, "patch", "rayjobs.ray.io/guarded", "-n", "team-a", "--type=merge",
			"-p", `{"metadata":{"annotations":{"flyte.org/phase":"Running","flyte.org/phase-reason":"test"}}}`)
		require.NoError(t, err, "the watcher's annotation patch is refused: %s", stderr)
		phase := k.must(t, nil, "get", "rayjobs.ray.io/guarded", "-n", "team-a", "-o", `jsonpath={.metadata.annotations.flyte\.org/phase}`)
		require.Equal(t, "Running", phase)
		// Other users are not concerned.
		k.must(t, nil, specPatch()...)
		require.NotEqual(t, before, entrypoint())
	})

	t.Run("serve runs with the chart's arguments and only the chart's RBAC", func(t *testing.T) {
		// helm install for real (kubectl apply of every rendered object; no
		// pod runs here), then the pod's command, run as the chart's
		// ServiceAccount, with the ConfigMap's files where the pod mounts them.
		const ns = "fa-serve"
		rel := release{Name: "flyte-admission", Namespace: ns, Values: map[string]any{
			"config": readYAML(t, examplesDir+"/plugins.yaml"), "policies": readYAML(t, examplesDir+"/policies.yaml")}}
		r := mustRender(t, rel)
		k.namespace(t, ns, nil)
		k.must(t, []byte(r.Manifest), "apply", "-f", "-")

		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		var cm corev1.ConfigMap
		into(t, r.get(t, "ConfigMap", "flyte-admission-config"), &cm)
		p := startServe(t, d, cm, nil, serviceAccount{k: k, ns: ns, name: "flyte-admission"})

		// The server created its Secret and put its CA into every webhook of
		// both configurations (get/patch by name, secrets create/get/update):
		// one mutating, two validating.
		var ca string
		require.Eventually(t, func() bool {
			out, _, err := k.run(t, nil, "get", "secret", "flyte-admission-certs", "-n", ns, "-o", `jsonpath={.data.ca\.crt}`)
			ca = out
			return err == nil && ca != ""
		}, time.Minute, 250*time.Millisecond, "no Secret flyte-admission-certs:\n%s", p.log)
		caBundles := func() []string {
			var out []string
			for _, kind := range []string{"mutatingwebhookconfiguration", "validatingwebhookconfiguration"} {
				b, _, _ := k.run(t, nil, "get", kind, "flyte-admission", "-o", "jsonpath={.webhooks[*].clientConfig.caBundle}")
				out = append(out, strings.Fields(b)...)
			}
			return out
		}
		require.Eventually(t, func() bool { return slices.Equal(caBundles(), []string{ca, ca, ca}) },
			time.Minute, 250*time.Millisecond, "caBundle not patched: %v\n%s", caBundles(), p.log)

		// helm upgrade keeps the caBundle: it is in neither the old nor the new
		// manifest, so a three-way apply leaves it alone.
		k.must(t, []byte(r.Manifest), "apply", "-f", "-")
		require.Equal(t, []string{ca, ca, ca}, caBundles(), "re-applying the chart dropped the caBundle")

		// The watcher won the election (Lease get/create/update by name) and
		// reports the phase of an expanded job (list/watch, metadata patch
		// through the metadata-only policy, Events). The job lives in a
		// namespace that opted out of the webhooks: nothing serves the Service.
		require.Eventually(t, func() bool {
			out, _, err := k.run(t, nil, "get", "lease", "flyte-admission-watch", "-n", ns, "-o", "jsonpath={.spec.holderIdentity}")
			return err == nil && out != ""
		}, time.Minute, 250*time.Millisecond, "the watcher never held its Lease:\n%s", p.log)
		k.namespace(t, "team-optout", map[string]string{"flyte.org/admission": "disabled"})
		out, err := exec.Command(binary, "expand", "-f", "../../examples/ray-train.yaml", "--config", examplesDir+"/plugins.yaml", "-o", "json").Output()
		require.NoError(t, err)
		var job map[string]any
		require.NoError(t, json.Unmarshal(out, &job))
		job["metadata"].(map[string]any)["namespace"] = "team-optout"
		data, err := json.Marshal(job)
		require.NoError(t, err)
		k.must(t, data, "create", "-f", "-")
		var phase string
		require.Eventually(t, func() bool {
			phase, _, _ = k.run(t, nil, "get", "rayjob", "ray-train", "-n", "team-optout", "-o", `jsonpath={.metadata.annotations.flyte\.org/phase}`)
			return phase != ""
		}, time.Minute, 250*time.Millisecond, "the watcher never reported a phase:\n%s", p.log)
		t.Logf("reported phase of rayjob team-optout/ray-train: %s", phase)
		require.Eventually(t, func() bool {
			out, _, _ := k.run(t, nil, "get", "events.events.k8s.io", "-n", "team-optout", "-o", "jsonpath={.items[*].reportingController}")
			return strings.Contains(out, "flyte-admission-watch")
		}, time.Minute, 250*time.Millisecond, "no Event from the watcher:\n%s", p.log)

		require.NotContains(t, p.log.String(), "forbidden", "the server was refused something it needs")

		t.Run("client certificates from the chart's mount", func(t *testing.T) { serveWithClientAuth(t, k) })

		t.Run("cert-manager mode", func(t *testing.T) {
			// The same with certs.mode=cert-manager: no cert-manager runs here,
			// so its Secret is written as cert-manager would (from the
			// self-managed one above) and mounted where the pod mounts it.
			const ns = "fa-cm"
			r := mustRender(t, release{Name: "cm", Namespace: ns, Values: certManagerRelease.Values})
			k.namespace(t, ns, nil)
			k.must(t, []byte(r.Manifest), "apply", "-f", "-")
			var self corev1.Secret
			require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: "fa-serve", Name: "flyte-admission-certs"}, &self))
			tls := map[string][]byte{"tls.crt": self.Data["tls.crt"], "tls.key": self.Data["tls.key"], "ca.crt": self.Data["ca.crt"]}
			var d appsv1.Deployment
			into(t, r.get(t, "Deployment", "cm-flyte-admission"), &d)
			var cm corev1.ConfigMap
			into(t, r.get(t, "ConfigMap", "cm-flyte-admission-config"), &cm)
			p := startServe(t, d, cm, map[string]map[string][]byte{"cm-flyte-admission-tls": tls},
				serviceAccount{k: k, ns: ns, name: "cm-flyte-admission"})
			require.Eventually(t, func() bool {
				out, _, err := k.run(t, nil, "get", "lease", "flyte-admission-watch", "-n", ns, "-o", "jsonpath={.spec.holderIdentity}")
				return err == nil && out != ""
			}, time.Minute, 250*time.Millisecond, "the watcher never held its Lease:\n%s", p.log)
			for _, kind := range []string{"mutatingwebhookconfiguration", "validatingwebhookconfiguration"} {
				out := k.must(t, nil, "get", kind, "cm-flyte-admission", "-o", "jsonpath={.webhooks[*].clientConfig.caBundle}")
				require.Empty(t, out, "in cert-manager mode only cainjector writes the caBundle")
			}
			_, _, err := k.run(t, nil, "get", "secret", "cm-flyte-admission-certs", "-n", ns)
			require.Error(t, err, "in cert-manager mode the server creates no Secret")
			require.NotContains(t, p.log.String(), "forbidden", "the server was refused something it needs")
		})
	})
}

// serviceAccount is the chart's ServiceAccount, for impersonation.
type serviceAccount struct {
	k        kube
	ns, name string
}

func (s serviceAccount) user() string { return "system:serviceaccount:" + s.ns + ":" + s.name }

// groups are the groups a ServiceAccount's token carries.
func (s serviceAccount) groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + s.ns, "system:authenticated"}
}

func (s serviceAccount) impersonation() []string {
	args := []string{"--as=" + s.user()}
	for _, g := range s.groups() {
		args = append(args, "--as-group="+g)
	}
	return args
}

// can is `kubectl auth can-i ARGS` as the ServiceAccount.
func (s serviceAccount) can(t *testing.T, args ...string) bool {
	t.Helper()
	out, stderr, _ := s.k.run(t, nil, append(append([]string{"auth", "can-i"}, args...), s.impersonation()...)...)
	switch answer := strings.TrimSpace(out); {
	case answer == "yes":
		return true
	case strings.HasPrefix(answer, "no"):
		return false
	}
	t.Errorf("kubectl auth can-i %s: %q %s", strings.Join(args, " "), out, stderr)
	return false
}

// kubectl runs kubectl as the ServiceAccount.
func (s serviceAccount) kubectl(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return s.k.run(t, nil, append(args, s.impersonation()...)...)
}

// kubeconfig writes a kubeconfig that impersonates the ServiceAccount.
func (s serviceAccount) kubeconfig(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(s.k.Kubeconfig)
	require.NoError(t, err)
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = s.user()
		ai.ImpersonateGroups = s.groups()
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+s.name)
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// applyKinds applies (for real) the rendered objects of these kinds.
func applyKinds(t *testing.T, k kube, r *rendered, kinds ...string) {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, o := range r.Objects {
		if slices.Contains(kinds, o.GetKind()) {
			objs = append(objs, o)
		}
	}
	require.NotEmpty(t, objs)
	k.must(t, yamlOf(t, objs), "apply", "-f", "-")
}

type serveProcess struct {
	log *syncbuf.Buffer // written by the process while the test reads it
}

// startServe runs the Deployment's container command locally: its
// arguments, with the volume mount paths mapped to local directories (the
// ConfigMap's files written into its mount), listeners moved to local port 0
// (any free port; the probe's is read from the log) and the cluster reached as the ServiceAccount. It returns once /readyz
// answers 200.
func startServe(t *testing.T, d appsv1.Deployment, cm corev1.ConfigMap, secrets map[string]map[string][]byte, sa serviceAccount) *serveProcess {
	t.Helper()
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	root := t.TempDir()
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		local := filepath.Join(root, m.Name)
		require.NoError(t, os.MkdirAll(local, 0o700))
		mounts[m.MountPath] = local
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				require.Equal(t, cm.Name, v.ConfigMap.Name)
				for key, data := range cm.Data {
					require.NoError(t, os.WriteFile(filepath.Join(local, key), []byte(data), 0o600))
				}
			}
			if v.Name == m.Name && v.Secret != nil {
				data, ok := secrets[v.Secret.SecretName]
				require.True(t, ok, "the pod mounts Secret %s", v.Secret.SecretName)
				for key, b := range data {
					require.NoError(t, os.WriteFile(filepath.Join(local, key), b, 0o600))
				}
			}
		}
	}
	var args []string
	for _, a := range c.Args {
		if name, value, ok := strings.Cut(a, "="); ok {
			for mount, local := range mounts {
				if value == mount || strings.HasPrefix(value, mount+"/") {
					a = name + "=" + local + strings.TrimPrefix(value, mount)
				}
			}
		}
		args = append(args, a)
	}
	p := &serveProcess{log: &syncbuf.Buffer{}}
	args = append(args, "--host=127.0.0.1", "--port=0", "--probe-addr=127.0.0.1:0",
		"--metrics-addr=127.0.0.1:0", "--shutdown-delay=0s", "--kubeconfig="+sa.kubeconfig(t))
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	env2 := os.Environ()
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			env2 = append(env2, e.Name+"="+sa.ns)
		} else if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			env2 = append(env2, e.Name+"="+d.Name+"-local")
		}
	}
	cmd.Env = env2
	require.NoError(t, cmd.Start())
	t.Logf("flyte-admission %s", strings.Join(args, " "))
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve did not stop within 20 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", p.log)
		}
	})
	var last string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		probe := servelog.Address(p.log.String(), servelog.ProbesMetrics)
		if probe == "" {
			last = "not listening yet"
		} else if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b.String())
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready (last /readyz: %s):\n%s", last, p.log)
		}
	}
	return p
}
