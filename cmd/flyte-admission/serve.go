package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/flyte-admission/flyte-admission/certs"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// serveFlags are `flyte-admission serve`'s flags.
type serveFlags struct {
	host                  string
	port                  int
	certMode              string
	certDir               string
	certName, keyName     string
	probeAddr, metrics    string
	configPath, policies  string
	kubeconfig, namespace string
	enableHTTP2           bool
	clientCAFile          string
	reloadInterval        time.Duration
	shutdownDelay         time.Duration
	requestTimeout        time.Duration

	// what runs
	webhook, watch, watchAll, leaderElect bool
	watchSet                              bool // --watch given explicitly
	leaderElectionID                      string
	kubeQPS                               float32
	kubeBurst                             int
	pprofAddr                             string
	memoryLimit                           string

	// --cert-mode=self
	certSecret, serviceName, webhookName string
	certValidity                         time.Duration
	extraSANs                            []string
}

// certProvider is the seam for certificates: it returns the certificate
// source the server uses and anything that must run alongside it (e.g. a
// bootstrapper that creates the CA and serving certificate, writes them to
// --cert-dir, rotates them and patches the caBundle). kube is nil without
// cluster access.
type certProvider func(f *serveFlags, kube *rest.Config, log logr.Logger) (webhook.CertSource, []webhook.Starter, error)

// certModes are the --cert-mode values. "dir" serves --cert-dir's files,
// issued elsewhere (cert-manager, or anything that writes and rotates
// tls.crt/tls.key there). The self-managed mode of the certs package
// registers itself here.
var certModes = map[string]certProvider{
	"dir": func(f *serveFlags, _ *rest.Config, log logr.Logger) (webhook.CertSource, []webhook.Starter, error) {
		if f.certDir == "" {
			return nil, nil, errors.New("--cert-dir is required with --cert-mode=dir")
		}
		d := webhook.NewDirCerts(joinPath(f.certDir, f.certName), joinPath(f.certDir, f.keyName))
		d.Log = log.WithName("certs")
		return d, nil, nil
	},
	"self": selfManagedCerts,
}

// selfManagedCerts bootstraps and rotates the CA and serving certificate: in
// a Secret shared by all replicas when there is cluster access (and patches
// the webhook configurations' caBundle), else in --cert-dir/store.
func selfManagedCerts(f *serveFlags, kube *rest.Config, log logr.Logger) (webhook.CertSource, []webhook.Starter, error) {
	if f.certName != "tls.crt" || f.keyName != "tls.key" {
		return nil, nil, errors.New("--cert-mode=self writes tls.crt and tls.key: leave --tls-cert-name and --tls-key-name alone")
	}
	o := certs.Options{
		ServiceName:      f.serviceName,
		ServiceNamespace: f.namespace,
		CertDir:          f.certDir,
		ServingValidity:  f.certValidity,
		Log:              log.WithName("certs"),
	}
	for _, san := range f.extraSANs {
		if ip := net.ParseIP(san); ip != nil {
			o.ExtraIPs = append(o.ExtraIPs, ip)
		} else {
			o.ExtraDNSNames = append(o.ExtraDNSNames, san)
		}
	}
	if kube != nil {
		c, err := client.New(kube, client.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("client for certificates: %w", err)
		}
		o.Client = c
		o.SecretName, o.SecretNamespace = f.certSecret, f.namespace
		o.MutatingWebhookName, o.ValidatingWebhookName = f.webhookName, f.webhookName
	}
	m, err := certs.New(o)
	if err != nil {
		return nil, nil, err
	}
	d := webhook.NewDirCerts(joinPath(f.certDir, f.certName), joinPath(f.certDir, f.keyName))
	d.Log = log.WithName("certs")
	return d, []webhook.Starter{m}, nil
}

func joinPath(dir, name string) string { return strings.TrimSuffix(dir, "/") + "/" + name }

func newServeCmd() *cobra.Command {
	f := &serveFlags{}
	zopts := &zap.Options{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhook (mutate: expand skeletons; validate: invariants and policies)",
		Long: `Serve runs the mutating (/mutate) and validating (/validate) admission webhooks over
TLS, with /healthz and /readyz on --probe-addr and Prometheus /metrics on --metrics-addr.
The plugin configuration (--config) and the policies (--policies) are re-read when
they change; a file that no longer parses keeps the previous one in use (logged,
counted in flyte_admission_config_reload_errors_total and shown by /readyz).
PodTemplates are looked up in the cluster (--kubeconfig, or in-cluster when
running in a pod); without cluster access tasks cannot name PodTemplates.
SIGTERM or SIGINT: /readyz fails, --shutdown-delay passes, in-flight requests drain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrllog.SetLogger(zap.New(zap.UseFlagOptions(zopts), zap.WriteTo(cmd.ErrOrStderr())))
			f.watchSet = cmd.Flags().Changed("watch")
			if err := setMemoryLimit(f.memoryLimit); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return runServe(ctx, f, ctrllog.Log.WithName("flyte-admission"))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.host, "host", "", "address the webhook listens on (default all)")
	fs.IntVar(&f.port, "port", 9443, "webhook HTTPS port (0: any free port, logged with \"serving webhooks\")")
	fs.StringVar(&f.certMode, "cert-mode", "dir", "where certificates come from: "+strings.Join(modeNames(), ", "))
	fs.StringVar(&f.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding the serving certificate and key (reloaded when they change)")
	fs.StringVar(&f.certName, "tls-cert-name", "tls.crt", "serving certificate file name in --cert-dir")
	fs.StringVar(&f.keyName, "tls-key-name", "tls.key", "serving key file name in --cert-dir")
	fs.StringVar(&f.probeAddr, "probe-addr", ":8081", "address of /healthz and /readyz (plain HTTP; 0 disables)")
	fs.StringVar(&f.metrics, "metrics-addr", ":8080", "address of /metrics (plain HTTP; 0 disables)")
	fs.StringVar(&f.configPath, "config", "", "plugin configuration file (flytepropeller's plugins: keys; reloaded on change)")
	fs.StringVar(&f.policies, "policies", "", "cluster policies file (reloaded on change; default: enforce the plugins' invariants only)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for PodTemplate lookups (default: in-cluster when in a pod, else none)")
	fs.StringVar(&f.namespace, "namespace", defaultNamespace(), "flyte-admission's own namespace (default PodTemplates live here)")
	fs.BoolVar(&f.enableHTTP2, "enable-http2", false, "serve HTTP/2 (off by default)")
	fs.StringVar(&f.clientCAFile, "client-ca-file", "",
		"PEM bundle of CAs: the webhook then requires a client certificate signed by one of them (the apiserver's, from its AdmissionConfiguration kubeconfig) and refuses other callers during the TLS handshake; re-read every --reload-interval")
	fs.DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often --config and --policies are checked for changes")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 5*time.Second, "how long /readyz fails before the listeners close on shutdown")
	fs.DurationVar(&f.requestTimeout, "request-timeout", webhook.DefaultRequestTimeout,
		"longest handling of one admission request before it is refused (keep it below the webhooks' timeoutSeconds; the apiserver's ?timeout= lowers it)")
	fs.BoolVar(&f.webhook, "webhook", true, "serve the admission webhooks")
	fs.BoolVar(&f.watch, "watch", true, "run the status watcher (needs cluster access; only the leader reports)")
	fs.BoolVar(&f.watchAll, "watch-all", false, "report phases of every object of the three kinds, not only those carrying a task template")
	fs.BoolVar(&f.leaderElect, "leader-elect", true, "elect one watcher among the replicas through a Lease in --namespace")
	fs.StringVar(&f.leaderElectionID, "leader-election-id", webhook.DefaultName+"-watch", "name of the watcher's Lease in --namespace (one per release)")
	fs.Float32Var(&f.kubeQPS, "kube-api-qps", 100, "queries per second to the apiserver (watcher): for the annotation patches of all kinds, and again for the Events")
	fs.IntVar(&f.kubeBurst, "kube-api-burst", 200, "burst of queries to the apiserver (watcher)")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "0", "address of /debug/pprof/ (plain HTTP; 0 disables)")
	fs.StringVar(&f.memoryLimit, "memory-limit", "", "soft limit of the Go runtime's memory, e.g. 64Mi: the garbage collector works harder near it (default: $GOMEMLIMIT, else none)")
	fs.StringVar(&f.certSecret, "cert-secret", webhook.DefaultName+"-certs", "--cert-mode=self: the Secret in --namespace holding the shared CA and serving certificate")
	fs.StringVar(&f.serviceName, "service-name", webhook.DefaultName, "--cert-mode=self: the Service the apiserver calls (the certificate's names follow it)")
	fs.StringVar(&f.webhookName, "webhook-name", webhook.DefaultName, "--cert-mode=self: the Mutating and ValidatingWebhookConfiguration whose caBundle is kept current")
	fs.DurationVar(&f.certValidity, "cert-validity", 365*24*time.Hour, "--cert-mode=self: serving certificate lifetime (renewed at two thirds)")
	fs.StringSliceVar(&f.extraSANs, "extra-san", nil, "--cert-mode=self: extra DNS names or IPs in the serving certificate (e.g. 127.0.0.1 for local runs)")
	gofs := flag.NewFlagSet("zap", flag.ContinueOnError)
	zopts.BindFlags(gofs)
	fs.AddGoFlagSet(gofs)
	return cmd
}

// setMemoryLimit applies --memory-limit (a quantity such as 64Mi) as the Go
// runtime's soft memory limit; "" leaves $GOMEMLIMIT (or no limit).
func setMemoryLimit(v string) error {
	if v == "" {
		return nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("--memory-limit %q: want a positive quantity such as 64Mi", v)
	}
	debug.SetMemoryLimit(q.Value())
	return nil
}

func modeNames() []string {
	out := make([]string, 0, len(certModes))
	for k := range certModes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// defaultNamespace is $POD_NAMESPACE, the service account's namespace, or
// flyte-admission.
func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(data)); ns != "" {
			return ns
		}
	}
	return webhook.DefaultNamespace
}

// kubeConfig is --kubeconfig's cluster, the in-cluster one, or nil.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return cfg, nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster config: %w", err)
	}
	return cfg, nil
}

// runServe wires the packages together and runs until ctx ends.
func runServe(ctx context.Context, f *serveFlags, log logr.Logger) error {
	cfg, err := webhook.NewFileSource("config", f.configPath, func(data []byte) (*config.Config, error) {
		if data == nil {
			return config.Default(), nil
		}
		return config.Parse(data)
	})
	if err != nil {
		return err
	}
	pols, err := webhook.NewFileSource("policies", f.policies, func(data []byte) (*policy.Set, error) {
		if data == nil {
			return policy.Default(), nil
		}
		return policy.Parse(data)
	})
	if err != nil {
		return err
	}
	cfg.Interval, cfg.Log = f.reloadInterval, log.WithName("reload")
	pols.Interval, pols.Log = f.reloadInterval, log.WithName("reload")

	kube, err := kubeConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	if f.requestTimeout <= 0 {
		return fmt.Errorf("--request-timeout %v: must be positive", f.requestTimeout)
	}
	provide, ok := certModes[f.certMode]
	if !ok {
		return fmt.Errorf("--cert-mode %q: want one of %s", f.certMode, strings.Join(modeNames(), ", "))
	}
	certs, starters, err := provide(f, kube, log)
	if err != nil {
		return err
	}
	starters = append(starters, cfg, pols)
	checks := []webhook.Check{cfg.Check(), pols.Check()}

	reg := builtin.Registry()
	mutator := &webhook.Mutator{Registry: reg, Config: cfg.Current}
	if kube != nil {
		templates, err := webhook.NewClusterTemplates(kube, f.namespace)
		if err != nil {
			return err
		}
		mutator.Templates = func() podspec.Templates { return templates }
		starters = append(starters, templates)
		checks = append(checks, webhook.Check{Name: "podtemplates", Check: templates.Ready})
	} else {
		log.Info("no cluster access (no --kubeconfig, not in a pod): tasks naming a PodTemplate will be refused")
	}
	if f.clientCAFile != "" && !f.webhook {
		return errors.New("--client-ca-file applies to the webhook: it needs --webhook")
	}
	var runners []func(context.Context) error
	if f.webhook {
		var clientCAs func() *x509.CertPool
		if f.clientCAFile != "" {
			cas, err := webhook.NewClientCAFile(f.clientCAFile)
			if err != nil {
				return fmt.Errorf("--client-ca-file: %w", err)
			}
			cas.Interval, cas.Log = f.reloadInterval, log.WithName("reload")
			starters = append(starters, cas)
			checks = append(checks, cas.Check())
			clientCAs = cas.Current
		}
		srv, err := webhook.NewServer(webhook.Options{
			Host:           f.host,
			Port:           f.port,
			CertDir:        f.certDir,
			CertName:       f.certName,
			KeyName:        f.keyName,
			Certs:          certs,
			EnableHTTP2:    f.enableHTTP2,
			ClientCAs:      clientCAs,
			RequestTimeout: f.requestTimeout,
			ProbeAddr:      f.probeAddr,
			MetricsAddr:    f.metrics,
			Mutator:        mutator,
			Validator:      &webhook.Validator{Registry: reg, Config: cfg.Current, Policies: pols.Current},
			ReadyChecks:    checks,
			Starters:       starters,
			ShutdownDelay:  f.shutdownDelay,
			Log:            log,
		})
		if err != nil {
			return err
		}
		runners = append(runners, srv.Start)
	}
	if f.watch && kube == nil {
		if f.watchSet {
			return errors.New("--watch needs cluster access (--kubeconfig, or run in a pod)")
		}
		log.Info("no cluster access: the status watcher is off")
		f.watch = false
	}
	if f.watch {
		mgr, err := newWatchManager(kube, f, cfg.Current, log)
		if err != nil {
			return err
		}
		runners = append(runners, mgr.Start)
	}
	if len(runners) == 0 {
		return errors.New("nothing to run: both --webhook and --watch are off")
	}
	if !f.watch && f.pprofAddr != "" && f.pprofAddr != "0" {
		// The watcher's manager serves /debug/pprof/ when it runs.
		runners = append(runners, func(ctx context.Context) error { return servePprof(ctx, f.pprofAddr) })
	}
	log.Info("starting", "webhook", f.webhook, "watch", f.watch, "port", f.port, "certMode", f.certMode, "certDir", f.certDir,
		"clientCAFile", f.clientCAFile,
		"config", f.configPath, "policies", f.policies, "configGeneration", cfg.Current().Generation, "policyNames", pols.Current().Names())
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range runners {
		g.Go(func() error { return r(gctx) })
	}
	return g.Wait()
}

// newWatchManager is the status watcher's controller-runtime manager: the
// leader (Lease in --namespace) reports phases; metrics go to the registry
// the webhook serves, or to --metrics-addr when the webhook is off.
func newWatchManager(kube *rest.Config, f *serveFlags, cfg func() *config.Config, log logr.Logger) (manager.Manager, error) {
	kube = rest.CopyConfig(kube)
	kube.QPS, kube.Burst = f.kubeQPS, f.kubeBurst
	scheme := runtime.NewScheme()
	if err := watch.AddToScheme(scheme); err != nil {
		return nil, err
	}
	metricsAddr, probeAddr := "0", "0"
	if !f.webhook {
		metricsAddr, probeAddr = f.metrics, f.probeAddr
	}
	mgr, err := ctrl.NewManager(kube, manager.Options{
		Scheme:                        scheme,
		Cache:                         watch.CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              f.pprofAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              f.leaderElectionID,
		LeaderElectionNamespace:       f.namespace,
		LeaderElectionReleaseOnCancel: true,
		Logger:                        log.WithName("watch"),
	})
	if err != nil {
		return nil, fmt.Errorf("watcher manager: %w", err)
	}
	if !f.webhook {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
	}
	if err := watch.Setup(mgr, watch.Options{Config: cfg, All: f.watchAll, Log: log.WithName("watch")}); err != nil {
		return nil, err
	}
	return mgr, nil
}

func newManifestsCmd() *cobra.Command {
	var o webhook.RegistrationOptions
	var caFile, failurePolicy, policiesFailurePolicy, output string
	cmd := &cobra.Command{
		Use:   "manifests",
		Short: "Print the webhook registration objects (Mutating/ValidatingWebhookConfiguration, ValidatingAdmissionPolicy + binding)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caFile != "" {
				data, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-bundle-file: %w", err)
				}
				o.CABundle = data
			}
			o.ValidatingFailurePolicy = admissionregistrationv1.FailurePolicyType(failurePolicy)
			o.PoliciesFailurePolicy = admissionregistrationv1.FailurePolicyType(policiesFailurePolicy)
			if err := o.Validate(); err != nil {
				return err
			}
			var out []map[string]any
			for _, obj := range webhook.RegistrationObjects(o) {
				m, err := toMap(obj)
				if err != nil {
					return err
				}
				out = append(out, m)
			}
			return objects.Write(cmd.OutOrStdout(), output, out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Name, "name", webhook.DefaultName, "name of the objects (and default Service name)")
	fs.StringVar(&o.Namespace, "namespace", webhook.DefaultNamespace, "flyte-admission's namespace (the Service's; excluded from admission)")
	fs.StringVar(&o.ServiceName, "service-name", "", "Service in front of the webhook (default --name)")
	fs.Int32Var(&o.ServicePort, "service-port", 443, "Service port")
	fs.StringVar(&o.URL, "url", "", "reach the webhook at this base URL (https://host:port) instead of a Service")
	fs.StringVar(&caFile, "ca-bundle-file", "", "PEM CA bundle to embed as caBundle")
	fs.StringVar(&failurePolicy, "validating-failure-policy", "Fail", "failurePolicy of the validating webhook for objects carrying the task template: Fail or Ignore")
	fs.StringVar(&policiesFailurePolicy, "policies-failure-policy", "Ignore",
		"failurePolicy of the validating webhook for objects without the task template (cluster policies on hand-written jobs): Ignore lets them through while the webhook is down, Fail refuses them")
	fs.Int32Var(&o.TimeoutSeconds, "timeout-seconds", webhook.DefaultTimeoutSeconds, "timeoutSeconds of both webhooks")
	fs.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}

func toMap(obj any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return objects.DecodeMap(data)
}

// servePprof serves net/http/pprof's handlers on addr until ctx ends.
func servePprof(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof server: %w", err)
	}
	return nil
}
