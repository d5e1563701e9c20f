package chart

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The variants every test renders: defaults, the HA preset, cert-manager mode.
var (
	defaultRelease     = release{Name: "flyte-admission", Namespace: "flyte-admission"}
	haRelease          = release{Name: "flyte-admission", Namespace: "flyte-admission", Files: []string{haValues}}
	certManagerRelease = release{Name: "flyte-admission", Namespace: "flyte-admission",
		Values: map[string]any{"certs": map[string]any{"mode": "cert-manager"}}}
)

// monitoringValues turn on the ServiceMonitor, PrometheusRule and dashboard.
var monitoringValues = map[string]any{"metrics": map[string]any{
	"serviceMonitor": map[string]any{"enabled": true},
	"prometheusRule": map[string]any{"enabled": true},
	"dashboard":      map[string]any{"enabled": true},
}}

func TestLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults":                               nil,
		"ha":                                     haRelease.values(t),
		"cert-manager":                           certManagerRelease.values(t),
		"monitoring":                             monitoringValues,
		"network policy and client certificates": mergeValues(networkPolicyValues, clientAuthValues),
	} {
		t.Run(name, func(t *testing.T) {
			l := lint.AllWithKubeVersion(chartDir, vals, "flyte-admission", kubeVersion)
			var bad []string
			for _, m := range l.Messages {
				t.Logf("lint: %s", m)
				if m.Severity >= support.WarningSev { // helm lint --strict
					bad = append(bad, m.Error())
				}
			}
			require.Empty(t, bad, "helm lint --strict")
		})
	}
	t.Run("bad values fail lint", func(t *testing.T) {
		l := lint.AllWithKubeVersion(chartDir, map[string]any{"replicas": -1}, "flyte-admission", kubeVersion)
		require.Equal(t, support.ErrorSev, l.HighestSeverity, "lint passed replicas: -1: %v", l.Messages)
	})
}

func TestRender(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		r := mustRender(t, defaultRelease)
		require.Equal(t, map[string]int{
			"ServiceAccount": 1, "ConfigMap": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1,
			"Service": 2, "Deployment": 1, "PodDisruptionBudget": 1,
			"ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2,
			"MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1,
		}, r.kinds(), r.names())

		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		require.EqualValues(t, 2, *d.Spec.Replicas)
		require.Equal(t, intstr.FromInt32(0), *d.Spec.Strategy.RollingUpdate.MaxUnavailable, "a rollout never lowers the ready replicas")
		require.Equal(t, intstr.FromInt32(1), *d.Spec.Strategy.RollingUpdate.MaxSurge)
		pod := d.Spec.Template.Spec
		require.Equal(t, "flyte-admission", pod.ServiceAccountName)
		require.Len(t, pod.Containers, 1)
		c := pod.Containers[0]
		require.Equal(t, "ghcr.io/flyte-admission/flyte-admission:0.1.0", c.Image, "tag defaults to the appVersion")
		requireRestricted(t, pod)
		require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
		require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
		require.False(t, c.Resources.Requests.Cpu().IsZero())
		require.False(t, c.Resources.Limits.Memory().IsZero())
		require.Contains(t, c.Args, "--cert-mode=self")
		require.Contains(t, c.Args, "--cert-secret=flyte-admission-certs")
		require.Contains(t, c.Args, "--webhook-name=flyte-admission")
		require.Contains(t, c.Args, "--service-name=flyte-admission")
		require.Contains(t, c.Args, "--namespace=flyte-admission")
		require.NotNil(t, pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, "soft anti-affinity by default")
		require.Len(t, pod.TopologySpreadConstraints, 2)
		for _, c := range pod.TopologySpreadConstraints {
			require.Equal(t, []string{"pod-template-hash"}, c.MatchLabelKeys, "%s: each revision is spread on its own", c.TopologyKey)
		}
		for _, v := range pod.Volumes {
			require.Nil(t, v.Secret, "self mode mounts no Secret: the server reads it through the API")
		}

		var pdb policyv1.PodDisruptionBudget
		into(t, r.get(t, "PodDisruptionBudget", "flyte-admission"), &pdb)
		require.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable)
		require.Equal(t, d.Spec.Selector, pdb.Spec.Selector)

		var svc corev1.Service
		into(t, r.get(t, "Service", "flyte-admission"), &svc)
		require.Equal(t, d.Spec.Selector.MatchLabels, svc.Spec.Selector)
		require.Len(t, svc.Spec.Ports, 1, "the webhook's Service serves the webhook only")
		require.EqualValues(t, 443, svc.Spec.Ports[0].Port)
		require.Equal(t, intstr.FromString("webhook"), svc.Spec.Ports[0].TargetPort)
		var metricsSvc corev1.Service
		into(t, r.get(t, "Service", "flyte-admission-metrics"), &metricsSvc)
		require.Equal(t, d.Spec.Selector.MatchLabels, metricsSvc.Spec.Selector)
		require.Equal(t, []corev1.ServicePort{{Name: "metrics", Port: 8080, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}}, metricsSvc.Spec.Ports)
		require.Equal(t, "metrics", metricsSvc.Labels["app.kubernetes.io/component"])
		require.Zero(t, r.kinds()["ResourceQuota"], "no critical priority class, no quota")

		requireNoSecretOrCABundle(t, r)
		require.Contains(t, r.Notes, "kubectl apply -f examples/00-namespace.yaml -f examples/spark-pi.yaml")
	})

	t.Run("ha preset", func(t *testing.T) {
		r := mustRender(t, haRelease)
		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		require.EqualValues(t, 3, *d.Spec.Replicas)
		pod := d.Spec.Template.Spec
		require.Len(t, pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, 1, "hard anti-affinity")
		require.Equal(t, "kubernetes.io/hostname", pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey)
		require.Len(t, pod.TopologySpreadConstraints, 2)
		for _, c := range pod.TopologySpreadConstraints {
			require.Equal(t, d.Spec.Selector.MatchLabels, c.LabelSelector.MatchLabels, "the chart adds the pod selector to %s", c.TopologyKey)
			require.Equal(t, []string{"pod-template-hash"}, c.MatchLabelKeys, "the chart adds matchLabelKeys to %s", c.TopologyKey)
		}
		require.Equal(t, "system-cluster-critical", pod.PriorityClassName)
		requireRestricted(t, pod)
		var pdb policyv1.PodDisruptionBudget
		into(t, r.get(t, "PodDisruptionBudget", "flyte-admission"), &pdb)
		require.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable)

		var quota corev1.ResourceQuota
		into(t, r.get(t, "ResourceQuota", "flyte-admission-system-cluster-critical"), &quota)
		require.Equal(t, "7", quota.Spec.Hard.Pods().String(), "2 × 3 replicas + 1")
		require.Equal(t, &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
			ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"system-cluster-critical"}}}},
			quota.Spec.ScopeSelector)
		require.Contains(t, r.Notes, "ResourceQuota flyte-admission/flyte-admission-system-cluster-critical admits")
		require.NotContains(t, r.Notes, "WARNING")
		require.NotContains(t, r.Notes, "NOTE: hard anti-affinity")
	})

	// Under hard anti-affinity a rollout needs replicas + maxSurge nodes at
	// once (each pod on a node of its own); the preset's 3 replicas must roll
	// out on 3 nodes and keep 2 ready.
	t.Run("ha preset rolls out on 3 nodes", func(t *testing.T) {
		const nodes = 3
		r := mustRender(t, haRelease)
		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		replicas := int(*d.Spec.Replicas)
		ru := d.Spec.Strategy.RollingUpdate
		surge, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, replicas, true)
		require.NoError(t, err)
		unavailable, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false)
		require.NoError(t, err)
		require.LessOrEqual(t, replicas+surge, nodes, "a surge pod has no node to go to: the rollout stalls")
		require.GreaterOrEqual(t, replicas-unavailable, 2, "a rollout leaves fewer than 2 ready replicas")
		require.Equal(t, 1, unavailable, "one pod at a time")
	})

	t.Run("hard anti-affinity with a surge is flagged in NOTES", func(t *testing.T) {
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{"podAntiAffinity": "hard"}})
		require.Contains(t, r.Notes, "NOTE: hard anti-affinity with rollingUpdate.maxSurge=1")
		require.Contains(t, r.Notes, "more schedulable nodes than replicas (2)")
	})

	t.Run("one replica: no PodDisruptionBudget, and NOTES say why", func(t *testing.T) {
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{"replicas": 1}})
		require.Zero(t, r.kinds()["PodDisruptionBudget"], r.names())
		require.Contains(t, r.Notes, "1 replica, so no PodDisruptionBudget")
		require.Contains(t, r.Notes, "blocks every node")
		two := mustRender(t, defaultRelease)
		require.NotContains(t, two.Notes, "no PodDisruptionBudget")
	})

	t.Run("a budget that allows no eviction is refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			pdb  map[string]any
			want string
		}{
			{"minAvailable = replicas", map[string]any{"minAvailable": 2}, "podDisruptionBudget.minAvailable=2 with replicas=2 allows no eviction"},
			{"minAvailable above replicas", map[string]any{"minAvailable": 5}, "podDisruptionBudget.minAvailable=5"},
			{"minAvailable 100%", map[string]any{"minAvailable": "100%"}, "podDisruptionBudget.minAvailable=100%"},
			{"maxUnavailable 0", map[string]any{"maxUnavailable": 0}, "podDisruptionBudget.maxUnavailable=0 allows no eviction"},
			{"maxUnavailable 0%", map[string]any{"maxUnavailable": "0%"}, "podDisruptionBudget.maxUnavailable=0"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := render(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{"podDisruptionBudget": tc.pdb}})
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.want)
				require.Contains(t, err.Error(), "every node drain would block")
			})
		}
		// One below the replicas is fine.
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 1}}})
		r.get(t, "PodDisruptionBudget", "flyte-admission")
	})

	t.Run("critical priority class: quota only where it is needed", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			rel       release
			wantQuota string // "" for none
			wantNote  string
		}{
			{"system-node-critical", release{Name: "fa", Namespace: "platform", Values: map[string]any{"priorityClassName": "system-node-critical", "replicas": 2}},
				"fa-flyte-admission-system-node-critical", "ResourceQuota platform/fa-flyte-admission-system-node-critical admits"},
			{"in kube-system", release{Name: "flyte-admission", Namespace: "kube-system", Files: []string{haValues}}, "", ""},
			{"another class", release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{"priorityClassName": "platform-high"}}, "", ""},
			{"opted out", release{Name: "flyte-admission", Namespace: "flyte-admission", Files: []string{haValues},
				Values: map[string]any{"priorityClassQuota": map[string]any{"create": false}}}, "", "WARNING: priority class system-cluster-critical outside kube-system without priorityClassQuota.create"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := mustRender(t, tc.rel)
				if tc.wantQuota == "" {
					require.Zero(t, r.kinds()["ResourceQuota"], r.names())
				} else {
					var quota corev1.ResourceQuota
					into(t, r.get(t, "ResourceQuota", tc.wantQuota), &quota)
					require.Equal(t, "5", quota.Spec.Hard.Pods().String())
				}
				if tc.wantNote != "" {
					require.Contains(t, r.Notes, tc.wantNote)
				} else {
					require.NotContains(t, r.Notes, "Priority class")
					require.NotContains(t, r.Notes, "WARNING: priority class")
				}
			})
		}
	})

	t.Run("cert-manager", func(t *testing.T) {
		r := mustRender(t, certManagerRelease)
		require.Equal(t, 2, r.kinds()["Issuer"], r.names())
		require.Equal(t, 2, r.kinds()["Certificate"], r.names())
		cert := r.get(t, "Certificate", "flyte-admission-serving")
		require.Equal(t, "flyte-admission-tls", str(cert, "spec", "secretName"))
		require.Contains(t, strs(cert, "spec", "dnsNames"), "flyte-admission.flyte-admission.svc", "the name the apiserver dials")

		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			require.Equal(t, "flyte-admission/flyte-admission-serving",
				r.get(t, kind, "flyte-admission").GetAnnotations()["cert-manager.io/inject-ca-from"], kind)
		}
		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		c := d.Spec.Template.Spec.Containers[0]
		require.Contains(t, c.Args, "--cert-mode=dir")
		require.False(t, slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--cert-secret") }))
		var mounted bool
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				require.Equal(t, "flyte-admission-tls", v.Secret.SecretName)
				mounted = true
			}
		}
		require.True(t, mounted, "the serving certificate's Secret is mounted")

		var role rbacv1.Role
		into(t, r.get(t, "Role", "flyte-admission"), &role)
		for _, rule := range role.Rules {
			require.NotContains(t, rule.Resources, "secrets", "cert-manager mode needs no Secret access")
		}
		var cr rbacv1.ClusterRole
		into(t, r.get(t, "ClusterRole", "flyte-admission"), &cr)
		for _, rule := range cr.Rules {
			require.NotContains(t, rule.APIGroups, "admissionregistration.k8s.io", "cert-manager mode patches no webhook configuration")
		}
		requireNoSecretOrCABundle(t, r)
	})

	t.Run("cert-manager with an existing issuer", func(t *testing.T) {
		r := mustRender(t, release{Name: "fa", Namespace: "platform", Values: map[string]any{"certs": map[string]any{
			"mode": "cert-manager", "certManager": map[string]any{"issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "corp-ca", "group": "cert-manager.io"}},
		}}})
		require.Zero(t, r.kinds()["Issuer"], r.names())
		cert := r.get(t, "Certificate", "fa-flyte-admission-serving")
		ref, _ := lookup(cert.Object, []string{"spec", "issuerRef"})
		require.Equal(t, map[string]any{"kind": "ClusterIssuer", "name": "corp-ca", "group": "cert-manager.io"}, ref)
	})

	t.Run("no anti-affinity, own topology spread", func(t *testing.T) {
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{
			"podAntiAffinity": "none", "podDisruptionBudget": map[string]any{"minAvailable": "50%"},
			"topologySpreadConstraints": []any{map[string]any{"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule"}}}})
		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		require.Nil(t, d.Spec.Template.Spec.Affinity)
		require.Len(t, d.Spec.Template.Spec.TopologySpreadConstraints, 1)
		require.Equal(t, d.Spec.Selector, d.Spec.Template.Spec.TopologySpreadConstraints[0].LabelSelector)
		require.Equal(t, []string{"pod-template-hash"}, d.Spec.Template.Spec.TopologySpreadConstraints[0].MatchLabelKeys)
		var pdb policyv1.PodDisruptionBudget
		into(t, r.get(t, "PodDisruptionBudget", "flyte-admission"), &pdb)
		require.Equal(t, intstr.FromString("50%"), *pdb.Spec.MinAvailable)
		require.Nil(t, pdb.Spec.MaxUnavailable)
	})

	t.Run("without watcher", func(t *testing.T) {
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission",
			Values: map[string]any{"watcher": map[string]any{"enabled": false}}})
		require.Nil(t, r.find("ValidatingAdmissionPolicy", "flyte-admission-metadata-only"), "no patch right, no guard")
		var cr rbacv1.ClusterRole
		into(t, r.get(t, "ClusterRole", "flyte-admission"), &cr)
		for _, rule := range cr.Rules {
			for _, g := range []string{"sparkoperator.k8s.io", "ray.io", "kubernetes.dask.org", "events.k8s.io", "apiextensions.k8s.io"} {
				require.NotContains(t, rule.APIGroups, g, "only the watcher needs %s: %v", g, rule)
			}
		}
		var role rbacv1.Role
		into(t, r.get(t, "Role", "flyte-admission"), &role)
		for _, rule := range role.Rules {
			require.NotContains(t, rule.APIGroups, "coordination.k8s.io", "no leader election without the watcher")
		}
	})

	t.Run("own topology spread keeps its matchLabelKeys", func(t *testing.T) {
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{
			"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway", "matchLabelKeys": []any{}}}}})
		var d appsv1.Deployment
		into(t, r.get(t, "Deployment", "flyte-admission"), &d)
		require.Empty(t, d.Spec.Template.Spec.TopologySpreadConstraints[0].MatchLabelKeys, "an explicit matchLabelKeys is kept")
	})

	t.Run("monitoring", func(t *testing.T) {
		r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: monitoringValues})
		sm := r.get(t, "ServiceMonitor", "flyte-admission")
		require.Equal(t, "metrics", str(sm, "spec", "endpoints", "0", "port"))
		// The ServiceMonitor selects the metrics Service, not the webhook's.
		sel, _ := lookup(sm.Object, []string{"spec", "selector", "matchLabels"})
		selects := func(svc string) bool {
			labels := r.get(t, "Service", svc).GetLabels()
			for k, v := range sel.(map[string]any) {
				if labels[k] != v {
					return false
				}
			}
			return true
		}
		require.True(t, selects("flyte-admission-metrics"))
		require.False(t, selects("flyte-admission"))
		rule := r.get(t, "PrometheusRule", "flyte-admission")
		data, err := json.Marshal(rule.Object)
		require.NoError(t, err)
		require.Contains(t, string(data), `job=\"flyte-admission-metrics\"`, "the alerts select the metrics Service's job")
		require.NotContains(t, string(data), `job=\"flyte-admission\"`)
		r.get(t, "ConfigMap", "flyte-admission-dashboard")

		_, err = render(t, release{Name: "flyte-admission", Namespace: "flyte-admission",
			Values: mergeValues(monitoringValues, map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": false}}})})
		require.ErrorContains(t, err, "metrics.serviceMonitor.enabled needs metrics.service.enabled")
		noSvc := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission",
			Values: map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": false}}}})
		require.Nil(t, noSvc.find("Service", "flyte-admission-metrics"))
	})
}

// requireRestricted checks the Pod Security Standards "restricted" fields
// (the apiserver enforces the whole profile in TestCluster).
func requireRestricted(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		require.NotNil(t, sc, c.Name)
		require.False(t, *sc.AllowPrivilegeEscalation, c.Name)
		require.True(t, *sc.ReadOnlyRootFilesystem, c.Name)
		require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c.Name)
		require.True(t, *sc.RunAsNonRoot, c.Name)
	}
}

// requireNoSecretOrCABundle: the chart never templates a Secret (the server or
// cert-manager fills it; a GitOps tool would wipe it) nor a caBundle.
func requireNoSecretOrCABundle(t *testing.T, r *rendered) {
	t.Helper()
	require.Zero(t, r.kinds()["Secret"], "the chart must not template a Secret: %s", r.names())
	for _, o := range r.Objects {
		hooks, _ := lookup(o.Object, []string{"webhooks"})
		for i, w := range asSlice(hooks) {
			_, found := lookup(w, []string{"clientConfig", "caBundle"})
			require.False(t, found, "%s %s: webhooks[%d] has a caBundle", o.GetKind(), o.GetName(), i)
		}
	}
}

// str and strs read a string or a list of strings at path ("0" indexes lists).
func str(o *unstructured.Unstructured, path ...string) string {
	v, _ := lookup(o.Object, path)
	s, _ := v.(string)
	return s
}

func strs(o *unstructured.Unstructured, path ...string) []string {
	v, _ := lookup(o.Object, path)
	var out []string
	for _, x := range asSlice(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// lookup follows map keys and list indexes ("0").
func lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[p]; !ok {
				return nil, false
			}
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// helmLabels are the labels Helm and the chart add to the registration
// objects on top of the code's.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version",
	"app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"}

// TestRegistrationMatchesCode: the chart's webhook configurations, admission
// policy and binding are webhook.RegistrationObjects (what the tests of the
// webhook and `flyte-admission manifests` use), field by field, for the same
// name, namespace and Service; only Helm's labels and, in cert-manager mode,
// the cainjector annotation are added.
func TestRegistrationMatchesCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		rel  release
		opts webhook.RegistrationOptions
	}{
		{"defaults", defaultRelease,
			webhook.RegistrationOptions{Name: "flyte-admission", Namespace: "flyte-admission", ServiceName: "flyte-admission"}},
		{"ha preset", haRelease,
			webhook.RegistrationOptions{Name: "flyte-admission", Namespace: "flyte-admission", ServiceName: "flyte-admission"}},
		{"cert-manager", certManagerRelease,
			webhook.RegistrationOptions{Name: "flyte-admission", Namespace: "flyte-admission", ServiceName: "flyte-admission"}},
		{"other release, namespace, timeout, failure policy",
			release{Name: "prod", Namespace: "platform", Values: map[string]any{"webhook": map[string]any{"timeoutSeconds": 12, "validatingFailurePolicy": "Ignore"}}},
			webhook.RegistrationOptions{Name: "prod-flyte-admission", Namespace: "platform", ServiceName: "prod-flyte-admission",
				TimeoutSeconds: 12, ValidatingFailurePolicy: admissionregistrationv1.Ignore}},
		{"policies fail closed",
			release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{"webhook": map[string]any{"policiesFailurePolicy": "Fail"}}},
			webhook.RegistrationOptions{Name: "flyte-admission", Namespace: "flyte-admission", ServiceName: "flyte-admission",
				PoliciesFailurePolicy: admissionregistrationv1.Fail}},
		{"fullnameOverride and service port",
			release{Name: "x", Namespace: "webhooks", Values: map[string]any{"fullnameOverride": "admission", "service": map[string]any{"port": 8443}}},
			webhook.RegistrationOptions{Name: "admission", Namespace: "webhooks", ServiceName: "admission", ServicePort: 8443}},
		{"installed in kube-system", release{Name: "flyte-admission", Namespace: "kube-system"},
			webhook.RegistrationOptions{Name: "flyte-admission", Namespace: "kube-system", ServiceName: "flyte-admission"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.rel)
			certManager := tc.rel.values(t)["certs"] != nil
			for _, want := range webhook.RegistrationObjects(tc.opts) {
				kind := want.GetObjectKind().GroupVersionKind().Kind
				got := newLike(t, want)
				into(t, r.get(t, kind, tc.opts.Name), got)
				labels := got.GetLabels()
				for _, l := range helmLabels {
					require.Contains(t, labels, l, "%s: Helm's label", kind)
					delete(labels, l)
				}
				got.SetLabels(labels)
				if certManager && (kind == "MutatingWebhookConfiguration" || kind == "ValidatingWebhookConfiguration") {
					ann := got.GetAnnotations()
					require.Equal(t, tc.rel.Namespace+"/"+tc.opts.Name+"-serving", ann["cert-manager.io/inject-ca-from"])
					delete(ann, "cert-manager.io/inject-ca-from")
					if len(ann) == 0 {
						ann = nil
					}
					got.SetAnnotations(ann)
				}
				require.Equal(t, want, got, "%s %s: the chart and webhook.RegistrationObjects differ", kind, tc.opts.Name)
			}
		})
	}
}

func newLike(t *testing.T, o client.Object) client.Object {
	t.Helper()
	switch o.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return &admissionregistrationv1.MutatingWebhookConfiguration{}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return &admissionregistrationv1.ValidatingWebhookConfiguration{}
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return &admissionregistrationv1.ValidatingAdmissionPolicy{}
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	}
	t.Fatalf("unexpected registration object %T", o)
	return nil
}

// TestSchemaRejectsBadValues: bad values fail at install with a message
// naming the value (values.schema.json, checked by Helm before rendering).
func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string // all in the error
	}{
		{"negative replicas", map[string]any{"replicas": -1}, []string{"/replicas", "minimum"}},
		{"zero replicas", map[string]any{"replicas": 0}, []string{"/replicas", "minimum"}},
		{"replicas not a number", map[string]any{"replicas": "three"}, []string{"/replicas", "integer"}},
		{"unknown cert mode", map[string]any{"certs": map[string]any{"mode": "vault"}}, []string{"/certs/mode", "self", "cert-manager"}},
		{"misspelt top-level key", map[string]any{"replicaCount": 3}, []string{"replicaCount"}},
		{"misspelt nested key", map[string]any{"webhook": map[string]any{"timeout": 3}}, []string{"/webhook", "timeout"}},
		{"timeout above the apiserver's 30 s", map[string]any{"webhook": map[string]any{"timeoutSeconds": 31}}, []string{"/webhook/timeoutSeconds", "maximum"}},
		{"unknown failure policy", map[string]any{"webhook": map[string]any{"validatingFailurePolicy": "Maybe"}}, []string{"/webhook/validatingFailurePolicy", "Fail", "Ignore"}},
		{"unknown policies failure policy", map[string]any{"webhook": map[string]any{"policiesFailurePolicy": "Maybe"}}, []string{"/webhook/policiesFailurePolicy", "Fail", "Ignore"}},
		{"bad pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, []string{"/image/pullPolicy"}},
		{"bad digest", map[string]any{"image": map[string]any{"digest": "latest"}}, []string{"/image/digest"}},
		{"bad duration", map[string]any{"server": map[string]any{"reloadInterval": "2 seconds"}}, []string{"/server/reloadInterval"}},
		{"bad anti-affinity preset", map[string]any{"podAntiAffinity": "always"}, []string{"/podAntiAffinity"}},
		{"bad PDB percentage", map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": "half"}}, []string{"/podDisruptionBudget/maxUnavailable"}},
		{"unknown policy mode", map[string]any{"policies": map[string]any{"forbid-privileged": map[string]any{"mode": "block"}}},
			[]string{"/policies/forbid-privileged/mode", "enforce", "warn", "audit"}},
		{"unknown policy", map[string]any{"policies": map[string]any{"forbid-root": map[string]any{}}}, []string{"/policies", "forbid-root"}},
		{"allowed-registries without registries", map[string]any{"policies": map[string]any{"allowed-registries": map[string]any{"mode": "warn"}}},
			[]string{"/policies/allowed-registries", "registries"}},
		{"unknown plugin section", map[string]any{"config": map[string]any{"plugins": map[string]any{"sparkk": map[string]any{}}}}, []string{"/config/plugins", "sparkk"}},
		{"bad port", map[string]any{"service": map[string]any{"port": 70000}}, []string{"/service/port", "maximum"}},
		{"network policy peer without a cidr", map[string]any{"networkPolicy": map[string]any{"webhookFrom": []any{map[string]any{"ipBlock": map[string]any{}}}}},
			[]string{"/networkPolicy/webhookFrom/0/ipBlock", "cidr"}},
		{"network policy peer of an unknown kind", map[string]any{"networkPolicy": map[string]any{"metricsFrom": []any{map[string]any{"namespace": "monitoring"}}}},
			[]string{"/networkPolicy/metricsFrom/0", "namespace"}},
		{"misspelt clientAuth key", map[string]any{"clientAuth": map[string]any{"caFile": "/ca.crt"}}, []string{"/clientAuth", "caFile"}},
		{"metrics port moved to metrics.service.port", map[string]any{"service": map[string]any{"metricsPort": 9090}}, []string{"/service", "metricsPort"}},
		{"bad metrics port", map[string]any{"metrics": map[string]any{"service": map[string]any{"port": 0}}}, []string{"/metrics/service/port", "minimum"}},
		{"bad rolling update", map[string]any{"rollingUpdate": map[string]any{"maxSurge": "one"}}, []string{"/rollingUpdate/maxSurge"}},
		{"misspelt rolling update key", map[string]any{"rollingUpdate": map[string]any{"surge": 1}}, []string{"/rollingUpdate", "surge"}},
		{"quota switch not a boolean", map[string]any{"priorityClassQuota": map[string]any{"create": "yes"}}, []string{"/priorityClassQuota/create", "boolean"}},
		{"error ratio above 1", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"errorRatio": 5}}}, []string{"/metrics/prometheusRule/errorRatio"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: tc.values})
			require.Error(t, err, "values %v were accepted", tc.values)
			msg := err.Error()
			require.Contains(t, msg, "values don't meet the specifications of the schema")
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
			t.Logf("%s", msg)
		})
	}

	t.Run("the presets and examples are valid", func(t *testing.T) {
		mustRender(t, haRelease)
		mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{
			"config": readYAML(t, examplesDir+"/plugins.yaml"), "policies": readYAML(t, examplesDir+"/policies.yaml"),
			"podDisruptionBudget": map[string]any{"minAvailable": "50%"},
		}})
	})
}

// TestConfigMap: the ConfigMap the server reads holds exactly the plugin
// configuration and policies given as values (the server's own parsers
// accept them and yield what the files would).
func TestConfigMap(t *testing.T) {
	pluginsFile, err := os.ReadFile(examplesDir + "/plugins.yaml")
	require.NoError(t, err)
	policiesFile, err := os.ReadFile(examplesDir + "/policies.yaml")
	require.NoError(t, err)
	wantConfig, err := config.Parse(pluginsFile)
	require.NoError(t, err)
	wantPolicies, err := policy.Parse(policiesFile)
	require.NoError(t, err)

	for _, tc := range []struct {
		name                     string
		values                   map[string]any
		wantConfigGen, wantNames []string
	}{
		{"defaults", nil, []string{config.Default().Generation}, policy.Default().Names()},
		{"examples", map[string]any{"config": readYAML(t, examplesDir+"/plugins.yaml"), "policies": readYAML(t, examplesDir+"/policies.yaml")},
			[]string{wantConfig.Generation}, wantPolicies.Names()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: tc.values})
			var cm corev1.ConfigMap
			into(t, r.get(t, "ConfigMap", "flyte-admission-config"), &cm)
			cfg, err := config.Parse([]byte(cm.Data["config.yaml"]))
			require.NoError(t, err, "config.yaml:\n%s", cm.Data["config.yaml"])
			require.Equal(t, tc.wantConfigGen, []string{cfg.Generation}, "the rendered configuration is not the given one:\n%s", cm.Data["config.yaml"])
			pols, err := policy.Parse([]byte(cm.Data["policies.yaml"]))
			require.NoError(t, err, "policies.yaml:\n%s", cm.Data["policies.yaml"])
			require.Equal(t, tc.wantNames, pols.Names())

			var d appsv1.Deployment
			into(t, r.get(t, "Deployment", "flyte-admission"), &d)
			args := d.Spec.Template.Spec.Containers[0].Args
			require.Contains(t, args, "--config=/etc/flyte-admission/config.yaml")
			require.Contains(t, args, "--policies=/etc/flyte-admission/policies.yaml")
			for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
				require.Empty(t, m.SubPath, "a subPath mount never sees ConfigMap updates (no hot reload)")
			}
			require.NotContains(t, d.Spec.Template.Annotations, "checksum/config", "configuration changes are reloaded, not rolled out")
		})
	}
}

// metricName matches our metric names in PromQL.
var metricName = regexp.MustCompile(`\bflyte_admission_[a-z_]+`)

// TestMonitoringUsesOurMetrics: every flyte_admission_* series the
// PrometheusRule and the dashboard query is one the code exports (the metric
// name constants of webhook, watch and certs), and the dashboard shows every
// one of them.
func TestMonitoringUsesOurMetrics(t *testing.T) {
	known := exportedMetrics(t, "../../webhook", "../../watch", "../../certs")
	require.Contains(t, known, webhook.MetricRequests)
	require.Contains(t, known, watch.MetricObjects)
	t.Logf("metrics the code exports: %v", slices.Sorted(maps.Keys(known)))
	base := func(s string) string {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b := strings.TrimSuffix(s, suffix); b != s && known[b] {
				return b
			}
		}
		return s
	}
	r := mustRender(t, release{Name: "flyte-admission", Namespace: "flyte-admission",
		Values: mergeValues(monitoringValues, map[string]any{"certs": map[string]any{"mode": "cert-manager"}})})

	rule := r.get(t, "PrometheusRule", "flyte-admission")
	groups, _ := lookup(rule.Object, []string{"spec", "groups"})
	var alerts []string
	for _, g := range asSlice(groups) {
		rules, _ := lookup(g, []string{"rules"})
		for _, rl := range asSlice(rules) {
			name, _ := lookup(rl, []string{"alert"})
			expr, _ := lookup(rl, []string{"expr"})
			alerts = append(alerts, name.(string))
			for _, m := range metricName.FindAllString(expr.(string), -1) {
				require.True(t, known[base(m)], "alert %s queries %s, which the code does not export", name, m)
			}
			require.NotContains(t, expr, "{{", "alert %s: un-rendered template in %q", name, expr)
		}
	}
	sort.Strings(alerts)
	for _, a := range []string{"FlyteAdmissionLatencyHigh", "FlyteAdmissionErrorRateHigh", "FlyteAdmissionCertificateExpiring", "FlyteAdmissionPanics",
		"FlyteAdmissionUnexpandedSkeletons", "FlyteAdmissionWebhookCallsFailing", "FlyteAdmissionPoliciesSkipped"} {
		require.Contains(t, alerts, a)
	}

	var cm corev1.ConfigMap
	into(t, r.get(t, "ConfigMap", "flyte-admission-dashboard"), &cm)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal([]byte(cm.Data["flyte-admission.json"]), &dash), "dashboard JSON")
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				require.True(t, known[base(m)], "panel %q queries %s, which the code does not export", p.Title, m)
				shown[base(m)] = true
			}
		}
	}
	for m := range known {
		require.True(t, shown[m], "the dashboard shows no panel of %s", m)
	}
	require.Contains(t, cm.Data["flyte-admission.json"], `"query": "flyte-admission"`, "the policy variable is the release's admission policy")
}

// exportedMetrics returns the flyte_admission_* names that the packages in
// dirs declare as string constants (their metric names), read from the
// source so that a metric added later must get a dashboard panel.
func exportedMetrics(t *testing.T, dirs ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			require.NoError(t, err)
			ast.Inspect(file, func(n ast.Node) bool {
				gd, ok := n.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					return true
				}
				for _, spec := range gd.Specs {
					for _, v := range spec.(*ast.ValueSpec).Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if s, err := strconv.Unquote(lit.Value); err == nil && metricName.MatchString(s) && metricName.FindString(s) == s {
								out[s] = true
							}
						}
					}
				}
				return false
			})
		}
	}
	return out
}

// TestServeAcceptsTheChartsArguments: `flyte-admission serve` parses every
// argument the Deployment passes it, in every mode (an unknown flag or a bad
// value would crash-loop every replica).
func TestServeAcceptsTheChartsArguments(t *testing.T) {
	for name, rel := range map[string]release{
		"defaults": defaultRelease, "ha": haRelease, "cert-manager": certManagerRelease,
		"watcher off, debug logs, http2": {Name: "flyte-admission", Namespace: "flyte-admission", Values: map[string]any{
			"watcher": map[string]any{"enabled": false}, "server": map[string]any{"logLevel": "debug", "enableHTTP2": true}}},
		"client certificates": {Name: "flyte-admission", Namespace: "flyte-admission", Values: clientAuthValues},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, rel)
			var d appsv1.Deployment
			into(t, r.get(t, "Deployment", "flyte-admission"), &d)
			c := d.Spec.Template.Spec.Containers[0]
			require.Empty(t, c.Command, "the image's entrypoint is flyte-admission")
			require.Equal(t, "serve", c.Args[0])
			// cobra parses every flag before it honours --help: exit 0 means
			// every argument is known and its value valid.
			out, err := exec.Command(binary, append(slices.Clone(c.Args), "--help")...).CombinedOutput()
			require.NoError(t, err, "flyte-admission %s:\n%s", strings.Join(c.Args, " "), out)
		})
	}
}

// TestReadmeDocumentsEveryValue: the values table of the chart's README
// names every value of values.yaml (a map is documented as a whole or key by
// key), and nothing else.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile(chartDir + "/README.md")
	require.NoError(t, err)
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		rows[m[1]] = true
	}
	values := readYAML(t, chartDir+"/values.yaml")
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if rows[prefix] {
			delete(rows, prefix)
			return
		}
		m, ok := v.(map[string]any)
		require.True(t, ok && len(m) > 0, "value %s is not in the README's values table", prefix)
		for k, x := range m {
			walk(strings.TrimPrefix(prefix+"."+k, "."), x)
		}
	}
	walk("", values)
	require.Empty(t, rows, "the README documents values that values.yaml does not have")
}
