package chart

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/test/servelog"
	"github.com/flyte-admission/flyte-admission/test/testpki"
	"github.com/flyte-admission/flyte-admission/webhook"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Values that turn on both ways of keeping callers other than the apiserver
// out: the NetworkPolicy and the client-certificate requirement.
var (
	networkPolicyValues = map[string]any{"networkPolicy": map[string]any{
		"enabled":     true,
		"webhookFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/16"}}},
		"metricsFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}},
	}}
	clientAuthValues = map[string]any{"clientAuth": map[string]any{"enabled": true, "caSecret": "apiserver-client-ca"}}
)

// TestNetworkPolicy: off by default (no default is safe on every provider);
// when on, the webhook port admits only webhookFrom and the metrics port only
// metricsFrom, on the ports the container listens on, for the Deployment's
// pods; on without webhookFrom is refused (it would lock the apiserver out).
func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		values      map[string]any
		wantPorts   []int32 // per ingress rule
		wantCIDR    string  // of the webhook rule's peer
		wantErr     string
		wantMetrics bool
	}{
		{name: "off by default", values: nil},
		{name: "webhook and metrics peers", values: networkPolicyValues, wantPorts: []int32{9443, 8080}, wantCIDR: "10.0.0.0/16", wantMetrics: true},
		{name: "metrics port closed without metricsFrom", values: map[string]any{"networkPolicy": map[string]any{
			"enabled": true, "webhookFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "172.16.0.0/28"}}}}},
			wantPorts: []int32{9443}, wantCIDR: "172.16.0.0/28"},
		{name: "follows the container's ports", values: mergeValues(networkPolicyValues, map[string]any{"server": map[string]any{"port": 10250, "metricsPort": 9090}}),
			wantPorts: []int32{10250, 9090}, wantCIDR: "10.0.0.0/16", wantMetrics: true},
		{name: "on without webhookFrom is refused", values: map[string]any{"networkPolicy": map[string]any{"enabled": true}},
			wantErr: "networkPolicy.enabled needs networkPolicy.webhookFrom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := release{Name: "flyte-admission", Namespace: "flyte-admission", Values: tc.values}
			r, err := render(t, rel)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			o := r.find("NetworkPolicy", "flyte-admission")
			if tc.wantPorts == nil {
				require.Nil(t, o, "a NetworkPolicy by default")
				return
			}
			require.NotNil(t, o, r.names())
			var np networkingv1.NetworkPolicy
			into(t, o, &np)
			var d appsv1.Deployment
			into(t, r.get(t, "Deployment", "flyte-admission"), &d)
			require.Equal(t, *d.Spec.Selector, np.Spec.PodSelector, "selects the webhook's pods")
			require.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes, "egress stays open")
			require.Len(t, np.Spec.Ingress, len(tc.wantPorts))
			for i, port := range tc.wantPorts {
				rule := np.Spec.Ingress[i]
				require.Len(t, rule.Ports, 1)
				require.Equal(t, intstr.FromInt32(port), *rule.Ports[0].Port)
				require.NotEmpty(t, rule.From, "rule %d admits only its peers", i)
			}
			require.Equal(t, []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: tc.wantCIDR}}}, np.Spec.Ingress[0].From, "webhookFrom as given")
			if tc.wantMetrics {
				require.Equal(t, &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
					np.Spec.Ingress[1].From[0].NamespaceSelector)
			}
		})
	}
}

// TestClientAuth: off by default; when on, serve gets --client-ca-file
// pointing at the CA key of the ConfigMap or Secret, mounted as a directory
// (so that a new CA is reloaded); exactly one source is required.
func TestClientAuth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		values    map[string]any
		wantArg   string // "" = no --client-ca-file
		secret    string
		configMap string
		key       string
		wantErr   string
	}{
		{name: "off by default"},
		{name: "CA from a Secret", values: clientAuthValues,
			wantArg: "--client-ca-file=/var/run/flyte-admission/client-ca/ca.crt", secret: "apiserver-client-ca", key: "ca.crt"},
		{name: "CA from a ConfigMap, own key", values: map[string]any{"clientAuth": map[string]any{"enabled": true, "caConfigMap": "kube-root-ca.crt", "caKey": "bundle.pem"}},
			wantArg: "--client-ca-file=/var/run/flyte-admission/client-ca/bundle.pem", configMap: "kube-root-ca.crt", key: "bundle.pem"},
		{name: "no source", values: map[string]any{"clientAuth": map[string]any{"enabled": true}},
			wantErr: "clientAuth.enabled needs exactly one of clientAuth.caConfigMap and clientAuth.caSecret"},
		{name: "two sources", values: map[string]any{"clientAuth": map[string]any{"enabled": true, "caConfigMap": "a", "caSecret": "b"}},
			wantErr: "clientAuth.enabled needs exactly one of clientAuth.caConfigMap and clientAuth.caSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := render(t, release{Name: "flyte-admission", Namespace: "flyte-admission", Values: tc.values})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var d appsv1.Deployment
			into(t, r.get(t, "Deployment", "flyte-admission"), &d)
			pod := d.Spec.Template.Spec
			var vol *corev1.Volume
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == "client-ca" {
					vol = &pod.Volumes[i]
				}
			}
			var args []string
			for _, a := range pod.Containers[0].Args {
				if strings.HasPrefix(a, "--client-ca-file") {
					args = append(args, a)
				}
			}
			if tc.wantArg == "" {
				require.Empty(t, args)
				require.Nil(t, vol)
				return
			}
			require.Equal(t, []string{tc.wantArg}, args)
			require.NotNil(t, vol)
			items := []corev1.KeyToPath{{Key: tc.key, Path: tc.key}}
			if tc.secret != "" {
				require.Equal(t, &corev1.SecretVolumeSource{SecretName: tc.secret, Items: items}, vol.Secret)
			} else {
				require.Equal(t, &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: tc.configMap}, Items: items}, vol.ConfigMap)
			}
			mounted := false
			for _, m := range pod.Containers[0].VolumeMounts {
				if m.Name == "client-ca" {
					mounted = true
					require.Equal(t, "/var/run/flyte-admission/client-ca", m.MountPath)
					require.Empty(t, m.SubPath, "a subPath mount would never see a new CA")
					require.True(t, m.ReadOnly)
				}
			}
			require.True(t, mounted)
		})
	}
}

// serveWithClientAuth installs the chart with clientAuth on (CA from a
// Secret) in cert-manager mode, runs the pod's command with the Secrets'
// files where the pod mounts them, and checks that a review without a client
// certificate is refused by a TLS alert and one with the apiserver's
// certificate is answered.
func serveWithClientAuth(t *testing.T, k kube) {
	const ns = "fa-clientauth"
	rel := release{Name: "ca", Namespace: ns, Values: mergeValues(clientAuthValues, map[string]any{
		"certs": map[string]any{"mode": "cert-manager"}, "watcher": map[string]any{"enabled": false}})}
	r := mustRender(t, rel)
	k.namespace(t, ns, nil)
	k.must(t, []byte(r.Manifest), "apply", "-f", "-")
	var d appsv1.Deployment
	into(t, r.get(t, "Deployment", "ca-flyte-admission"), &d)
	var cm corev1.ConfigMap
	into(t, r.get(t, "ConfigMap", "ca-flyte-admission-config"), &cm)

	servingCA, clientCA := testpki.NewCA(t, "serving CA"), testpki.NewCA(t, "apiserver webhook client CA")
	serving := servingCA.Serving(t, "127.0.0.1")
	p := startServe(t, d, cm, map[string]map[string][]byte{
		"ca-flyte-admission-tls": {"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM, "ca.crt": servingCA.PEM},
		"apiserver-client-ca":    {"ca.crt": clientCA.PEM},
	}, serviceAccount{k: k, ns: ns, name: "ca-flyte-admission"})

	addr := servelog.Address(p.log.String(), servelog.Webhook)
	require.NotEmpty(t, addr, "serve logged no webhook address")
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(servingCA.PEM))
	refusal := testpki.TLSRefusal(t, addr, roots, nil, 0)
	require.ErrorContains(t, refusal, "remote error: tls: ", "no client certificate")
	t.Logf("without a client certificate: %v", refusal)

	cert := clientCA.Client(t, "kube-apiserver").TLS(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"chart-1",
	 "kind":{"group":"ray.io","version":"v1","kind":"RayJob"},"resource":{"group":"ray.io","version":"v1","resource":"rayjobs"},
	 "name":"plain","namespace":"team-a","operation":"CREATE",
	 "object":{"apiVersion":"ray.io/v1","kind":"RayJob","metadata":{"name":"plain","namespace":"team-a"},"spec":{"entrypoint":"python -V"}}}}`
	resp, err := hc.Post("https://"+addr+webhook.ValidatePath, "application/json", strings.NewReader(review))
	require.NoError(t, err, "the apiserver's certificate is accepted:\n%s", p.log)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"uid":"chart-1"`)
}
