package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const (
	testNS        = "flyte-admission"
	testSecret    = "flyte-admission-certs"
	testMutating  = "flyte-admission-mutate"
	testValidting = "flyte-admission-validate"
)

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	return s
}

func webhookConfigs() []client.Object {
	sideEffects := admissionregistrationv1.SideEffectClassNone
	svc := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: testNS, Name: "flyte-admission", Path: &path,
		}}
	}
	return []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testMutating},
			Webhooks: []admissionregistrationv1.MutatingWebhook{
				{Name: "spark.flyte.org", ClientConfig: svc("/mutate"), SideEffects: &sideEffects, AdmissionReviewVersions: []string{"v1"}},
				{Name: "ray.flyte.org", ClientConfig: svc("/mutate"), SideEffects: &sideEffects, AdmissionReviewVersions: []string{"v1"}},
			},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testValidting},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{
				{Name: "validate.flyte.org", ClientConfig: svc("/validate"), SideEffects: &sideEffects, AdmissionReviewVersions: []string{"v1"}},
			},
		},
	}
}

// caBundles returns the caBundle of every webhook of both configurations.
func caBundles(t *testing.T, ctx context.Context, c client.Client) [][]byte {
	t.Helper()
	var out [][]byte
	mw := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: testMutating}, mw); err == nil {
		for _, w := range mw.Webhooks {
			out = append(out, w.ClientConfig.CABundle)
		}
	}
	vw := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: testValidting}, vw); err == nil {
		for _, w := range vw.Webhooks {
			out = append(out, w.ClientConfig.CABundle)
		}
	}
	return out
}

func baseOptions(t *testing.T, c client.Client, clk *clock) Options {
	return Options{
		SecretName: testSecret, SecretNamespace: testNS,
		ServiceName: "flyte-admission", ServiceNamespace: testNS,
		CertDir:             t.TempDir(),
		MutatingWebhookName: testMutating, ValidatingWebhookName: testValidting,
		Client: c,
		Now:    clk.Now,
		Log:    testr.New(t),
	}
}

// servedLeaf reads the certificate a webhook server would load from dir.
func servedLeaf(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	return leaf
}

func verifies(leaf *x509.Certificate, bundle []byte, now time.Time) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "flyte-admission.flyte-admission.svc"})
	return err
}

func getSecret(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: testSecret}, s))
	return s
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	for name, o := range map[string]Options{
		"no cert dir":         {ServiceName: "s", ServiceNamespace: "n"},
		"no names":            {CertDir: dir},
		"svc without ns":      {CertDir: dir, ServiceName: "s"},
		"secret without clnt": {CertDir: dir, ServiceName: "s", ServiceNamespace: "n", SecretName: "x"},
		"renewBefore too big": {CertDir: dir, ServiceName: "s", ServiceNamespace: "n", ServingValidity: time.Hour, RenewBefore: time.Hour},
		"overlap too big":     {CertDir: dir, ServiceName: "s", ServiceNamespace: "n", CAValidity: time.Hour, CAOverlap: 30 * time.Minute},
		"serving > CA":        {CertDir: dir, ServiceName: "s", ServiceNamespace: "n", ServingValidity: 2 * time.Hour, CAValidity: time.Hour},
		"store is cert dir":   {CertDir: dir, Dir: dir + "/", ServiceName: "s", ServiceNamespace: "n"},
	} {
		_, err := New(o)
		require.Error(t, err, name)
	}
	m, err := New(Options{CertDir: dir, ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")}})
	require.NoError(t, err)
	require.Equal(t, DefaultServingValidity, m.o.ServingValidity)
	require.Equal(t, DefaultCAValidity, m.o.CAValidity)
	require.Equal(t, DefaultCAOverlap, m.o.CAOverlap)
	require.Equal(t, filepath.Join(dir, "store"), m.o.Dir)
	require.False(t, m.NeedLeaderElection())
}

func TestLocalModeWritesFiles(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	certDir := t.TempDir()
	o := Options{
		CertDir:       certDir,
		ExtraDNSNames: []string{"localhost"},
		ExtraIPs:      []net.IP{net.ParseIP("127.0.0.1")},
		Now:           clk.Now,
		Log:           testr.New(t),
	}
	m, err := New(o)
	require.NoError(t, err)
	require.Error(t, m.Ready(), "nothing on disk yet")
	require.Nil(t, m.CABundle())

	require.NoError(t, m.Ensure(ctx))
	require.NoError(t, m.Ready())
	leaf := servedLeaf(t, certDir)
	require.Equal(t, []string{"localhost"}, leaf.DNSNames)
	require.True(t, leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")))
	caPEM, err := os.ReadFile(filepath.Join(certDir, CAFile))
	require.NoError(t, err)
	require.Equal(t, m.CABundle(), caPEM)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1", CurrentTime: clk.Now()})
	require.NoError(t, err)

	// Layout: stable symlinks into an atomically swapped version directory;
	// the key is private; the store (with the CA key) is a separate dir.
	target, err := os.Readlink(filepath.Join(certDir, CertFile))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dataLink, CertFile), target)
	fi, err := os.Stat(filepath.Join(certDir, KeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	for _, k := range []string{keyCABundle, keyCAKey, keyTLSCert, keyTLSKey} {
		require.FileExists(t, filepath.Join(certDir, "store", k))
	}
	_, err = os.Stat(filepath.Join(certDir, keyCAKey))
	require.True(t, os.IsNotExist(err), "the CA key is not published to the cert dir")

	// Idempotent: nothing rewritten.
	v1, _ := os.Readlink(filepath.Join(certDir, dataLink))
	require.NoError(t, m.Ensure(ctx))
	v2, _ := os.Readlink(filepath.Join(certDir, dataLink))
	require.Equal(t, v1, v2)

	// A second process on the same store reuses the CA.
	o2 := o
	o2.CertDir = t.TempDir()
	o2.Dir = filepath.Join(certDir, "store")
	m2, err := New(o2)
	require.NoError(t, err)
	require.NoError(t, m2.Ensure(ctx))
	require.Equal(t, m.CABundle(), m2.CABundle())
	require.True(t, servedLeaf(t, o2.CertDir).Equal(leaf))

	// Renewal: new files, old version directory removed.
	clk.Add(300 * 24 * time.Hour)
	require.NoError(t, m.Ensure(ctx))
	require.False(t, servedLeaf(t, certDir).Equal(leaf))
	v3, _ := os.Readlink(filepath.Join(certDir, dataLink))
	require.NotEqual(t, v1, v3)
	_, err = os.Stat(filepath.Join(certDir, v1))
	require.True(t, os.IsNotExist(err))
	require.NoError(t, m.Ready())
}

// TestTwoManagersShareOneCA starts two replicas at once on an empty Secret
// (and, in the second case, no Secret): both read before either writes, so
// one of them must lose with a Conflict / AlreadyExists and adopt the
// winner's CA.
func TestTwoManagersShareOneCA(t *testing.T) {
	for _, precreate := range []bool{true, false} {
		t.Run(map[bool]string{true: "empty secret", false: "no secret"}[precreate], func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			objs := webhookConfigs()
			if precreate {
				objs = append(objs, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret},
					Type:       corev1.SecretTypeTLS,
					Data:       map[string][]byte{"tls.crt": nil, "tls.key": nil},
				})
			}
			var reads sync.WaitGroup
			reads.Add(2)
			var secretGets, conflicts atomic.Int32
			c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
				WithInterceptorFuncs(interceptor.Funcs{
					Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
						err := c.Get(ctx, key, obj, opts...)
						if _, ok := obj.(*corev1.Secret); ok && secretGets.Add(1) <= 2 {
							// The first two reads (one per replica) return
							// only once both have read: a guaranteed race.
							reads.Done()
							reads.Wait()
						}
						return err
					},
					Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
						err := c.Update(ctx, obj, opts...)
						if err != nil {
							conflicts.Add(1)
						}
						return err
					},
					Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
						err := c.Create(ctx, obj, opts...)
						if err != nil {
							conflicts.Add(1)
						}
						return err
					},
					Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
						t.Error("nothing may be deleted")
						return nil
					},
				}).Build()

			ms := make([]*Manager, 2)
			for i := range ms {
				var err error
				ms[i], err = New(baseOptions(t, c, clk))
				require.NoError(t, err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, m := range ms {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = m.Ensure(ctx) }()
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
			require.Equal(t, int32(1), conflicts.Load(), "exactly one replica lost the race")

			sec := getSecret(t, c)
			require.Equal(t, corev1.SecretTypeTLS, sec.Type)
			cas, err := parseCertsPEM(sec.Data[keyCABundle])
			require.NoError(t, err)
			require.Len(t, cas, 1, "one CA")
			require.Equal(t, sec.Data[keyCABundle], ms[0].CABundle())
			require.Equal(t, sec.Data[keyCABundle], ms[1].CABundle())
			for _, m := range ms {
				leaf := servedLeaf(t, m.o.CertDir)
				require.NoError(t, leaf.CheckSignatureFrom(cas[0]))
				require.NoError(t, m.Ready())
			}
			for _, b := range caBundles(t, ctx, c) {
				require.Equal(t, sec.Data[keyCABundle], b)
			}
		})
	}
}

// TestRotationKeepsServedCertTrusted runs two replicas through serving
// renewals and two CA rotations on a fake clock and checks, at every write of
// a caBundle and every publication of a serving certificate, that every
// served certificate chains to every webhook's caBundle.
func TestRotationKeepsServedCertTrusted(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	var ms []*Manager
	var mu sync.Mutex // serializes the invariant checks
	var checks, bundleSizes2 int

	var c client.Client
	checkAll := func(when string) {
		mu.Lock()
		defer mu.Unlock()
		checks++
		bundles := caBundles(t, ctx, c)
		require.Len(t, bundles, 3)
		if len(bundles[0]) > 0 {
			if cs, _ := parseCertsPEM(bundles[0]); len(cs) == 2 {
				bundleSizes2++
			}
		}
		for _, m := range ms {
			if _, err := os.Stat(filepath.Join(m.o.CertDir, CertFile)); err != nil {
				continue // not published yet
			}
			leaf := servedLeaf(t, m.o.CertDir)
			for _, b := range bundles {
				require.NoError(t, verifies(leaf, b, clk.Now()), "%s at %s: served certificate issued by %s not trusted",
					when, clk.Now(), leaf.Issuer.CommonName)
			}
		}
	}
	c = fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(webhookConfigs()...).
		WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if err := cl.Patch(ctx, obj, patch, opts...); err != nil {
					return err
				}
				checkAll("after caBundle patch")
				return nil
			},
			Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
				t.Error("nothing may be deleted")
				return nil
			},
		}).Build()

	o := baseOptions(t, c, clk)
	o.ServingValidity = 10 * time.Minute
	o.CAValidity = 3 * time.Hour
	o.CAOverlap = 15 * time.Minute
	for range 2 {
		oi := o
		oi.CertDir = t.TempDir()
		m, err := New(oi)
		require.NoError(t, err)
		m.afterPublish = func() { checkAll("after publishing") }
		ms = append(ms, m)
	}

	signers := map[string]bool{}
	var served []string
	// 8 simulated hours in 1-minute steps (the resync interval), the two
	// replicas not always in the same order.
	for step := 0; clk.Now().Before(t0.Add(8 * time.Hour)); step++ {
		order := []*Manager{ms[0], ms[1]}
		if step%3 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, m := range order {
			require.NoError(t, m.Ensure(ctx))
			require.NoError(t, m.Ready())
		}
		checkAll("after step")
		leaf := servedLeaf(t, ms[0].o.CertDir)
		signers[leaf.Issuer.CommonName] = true
		if n := leaf.SerialNumber.String(); len(served) == 0 || served[len(served)-1] != n {
			served = append(served, n)
		}
		clk.Add(time.Minute)
	}
	// 8h with a 3h CA rotated at 2/3 (~2h): at least 3 CAs signed; a 10m
	// serving certificate renewed at ~7m: dozens of serving certificates.
	require.GreaterOrEqual(t, len(signers), 3, "CA rotations happened")
	require.Greater(t, len(served), 40, "serving renewals happened")
	require.Greater(t, bundleSizes2, 0, "overlap periods with two CAs in the bundle were seen")
	require.Greater(t, checks, 500)

	// Never more than the signing CA and one other CA in the bundle after
	// the old ones expired.
	cas, err := parseCertsPEM(getSecret(t, c).Data[keyCABundle])
	require.NoError(t, err)
	require.LessOrEqual(t, len(cas), 2)
}

func TestSANMismatchRegeneratesInCluster(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(webhookConfigs()...).Build()
	m1, err := New(baseOptions(t, c, clk))
	require.NoError(t, err)
	require.NoError(t, m1.Ensure(ctx))
	before := getSecret(t, c)

	o := baseOptions(t, c, clk)
	o.ServiceName = "flyte-admission-v2"
	m2, err := New(o)
	require.NoError(t, err)
	clk.Add(time.Minute)
	require.NoError(t, m2.Ensure(ctx))
	after := getSecret(t, c)
	require.Equal(t, before.Data[keyCABundle], after.Data[keyCABundle], "same CA")
	require.NotEqual(t, before.Data[keyTLSCert], after.Data[keyTLSCert])
	leaf := servedLeaf(t, o.CertDir)
	require.Contains(t, leaf.DNSNames, "flyte-admission-v2.flyte-admission.svc")
	require.NotContains(t, leaf.DNSNames, "flyte-admission.flyte-admission.svc")
}

func TestMissingWebhookConfigurationsArePatchedLater(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).Build()
	m, err := New(baseOptions(t, c, clk))
	require.NoError(t, err)
	require.NoError(t, m.Ensure(ctx), "missing webhook configurations are not an error")
	require.NoError(t, m.Ready())
	require.Equal(t, missingRetry, m.untilNext(), "retried soon")

	for _, o := range webhookConfigs() {
		require.NoError(t, c.Create(ctx, o))
	}
	require.NoError(t, m.Ensure(ctx))
	bundles := caBundles(t, ctx, c)
	require.Len(t, bundles, 3)
	for _, b := range bundles {
		require.Equal(t, m.CABundle(), b)
	}
	require.Equal(t, DefaultResyncInterval, m.untilNext())

	// Someone resets a caBundle (e.g. a helm upgrade): the next pass fixes it.
	mw := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: testMutating}, mw))
	mw.Webhooks[1].ClientConfig.CABundle = nil
	require.NoError(t, c.Update(ctx, mw))
	require.NoError(t, m.Ensure(ctx))
	require.Equal(t, m.CABundle(), caBundles(t, ctx, c)[1])
}

func TestCaBundlePatch(t *testing.T) {
	p, err := caBundlePatch([]string{"a", "b"}, [][]byte{[]byte("x"), nil}, []byte("x"))
	require.NoError(t, err)
	require.JSONEq(t, `[{"op":"test","path":"/webhooks/1/name","value":"b"},
		{"op":"add","path":"/webhooks/1/clientConfig/caBundle","value":"eA=="}]`, string(p))
	p, err = caBundlePatch([]string{"a"}, [][]byte{[]byte("x")}, []byte("x"))
	require.NoError(t, err)
	require.Nil(t, p)
}

func TestStartRenewsOnTime(t *testing.T) {
	// Real clock: Start's own timers renew a 3s serving certificate (about
	// every 2s); the test waits for the bootstrap and two renewals to be
	// published (events, however slow the machine), with a deadline only
	// against a hang. When a renewal is due is Ensure's and untilNext's,
	// tested on the fake clock above.
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(webhookConfigs()...).Build()
	o := baseOptions(t, c, newClock())
	o.Now = nil
	o.ServingValidity = 3 * time.Second
	m, err := New(o)
	require.NoError(t, err)
	published := make(chan string, 16)
	m.afterPublish = func() { // in Start's goroutine: no require here
		serial := "unreadable"
		if pair, err := tls.LoadX509KeyPair(filepath.Join(o.CertDir, CertFile), filepath.Join(o.CertDir, KeyFile)); err == nil {
			if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil {
				serial = leaf.SerialNumber.String()
			}
		}
		select {
		case published <- serial:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Start(ctx) }()

	serials := map[string]bool{}
	hang := time.After(2 * time.Minute)
	for len(serials) < 3 {
		select {
		case s := <-published:
			require.NotEqual(t, "unreadable", s, "the published certificate and key load")
			serials[s] = true
		case <-hang:
			t.Fatalf("Start published %d distinct serving certificates, want the bootstrap and 2 renewals", len(serials))
		}
	}
	cancel()
	require.NoError(t, <-done)
	require.Len(t, serials, 3, "bootstrap + 2 renewals, each a new certificate")
}

// TestSecretDeletedKeepsOldCATrusted: when the Secret is deleted, the replica
// that recreates it keeps the CAs it knew in the bundle, so the other
// replica's served certificate stays trusted until it switches.
func TestSecretDeletedKeepsOldCATrusted(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(webhookConfigs()...).Build()
	m1, err := New(baseOptions(t, c, clk))
	require.NoError(t, err)
	m2, err := New(baseOptions(t, c, clk))
	require.NoError(t, err)
	require.NoError(t, m1.Ensure(ctx))
	require.NoError(t, m2.Ensure(ctx))
	oldLeaf := servedLeaf(t, m2.o.CertDir)

	require.NoError(t, c.Delete(ctx, getSecret(t, c)))
	clk.Add(time.Minute)
	require.NoError(t, m1.Ensure(ctx))
	cas, err := parseCertsPEM(getSecret(t, c).Data[keyCABundle])
	require.NoError(t, err)
	require.Len(t, cas, 2, "new CA + the old one")
	require.NotEqual(t, fingerprint(oldLeaf), fingerprint(servedLeaf(t, m1.o.CertDir)))
	for _, b := range caBundles(t, ctx, c) {
		require.NoError(t, verifies(oldLeaf, b, clk.Now()), "m2 still serves the old certificate: it must stay trusted")
		require.NoError(t, verifies(servedLeaf(t, m1.o.CertDir), b, clk.Now()))
	}
	require.NoError(t, m2.Ensure(ctx))
	require.True(t, servedLeaf(t, m2.o.CertDir).Equal(servedLeaf(t, m1.o.CertDir)))
}
