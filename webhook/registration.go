package webhook

import (
	"fmt"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Registration defaults and names (the single source of truth the Helm chart
// renders).
const (
	// DefaultName names the webhook configurations, the admission policy and
	// its binding, and (by default) the Service.
	DefaultName = "flyte-admission"
	// DefaultNamespace is the webhook's own namespace unless told otherwise.
	DefaultNamespace = "flyte-admission"
	// OptOutLabel set to OptOutValue on a namespace exempts it from
	// flyte-admission (both webhooks and the admission policy).
	OptOutLabel = "flyte.org/admission"
	OptOutValue = "disabled"

	// MutatingWebhookName, ValidatingWebhookName and PoliciesWebhookName are
	// the webhooks' names inside their configurations: the validating
	// configuration holds two webhooks, both calling ValidatePath, one for
	// objects carrying the task template annotation (ValidatingWebhookName)
	// and one for the others (PoliciesWebhookName), so that each fails its
	// own way when the webhook is down.
	MutatingWebhookName   = "expand.admission.flyte.org"
	ValidatingWebhookName = "validate.admission.flyte.org"
	PoliciesWebhookName   = "policies.admission.flyte.org"

	// DefaultTimeoutSeconds bounds each webhook call.
	DefaultTimeoutSeconds = 5
)

// Resources are the built-in plugins' kinds' resources, at the versions the
// plugins build.
var Resources = resourcesOf(builtin.Registry())

// Resourcer is a plugin whose kind's resource (plural) name is not its
// lower-case kind plus "s".
type Resourcer interface {
	Resource() string
}

// resourcesOf returns the resources of reg's kinds.
func resourcesOf(reg *plugins.Registry) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, p := range reg.Plugins() {
		resource := strings.ToLower(p.Kind().Kind) + "s"
		if r, ok := p.(Resourcer); ok {
			resource = r.Resource()
		}
		out = append(out, p.Kind().GroupVersion().WithResource(resource))
	}
	return out
}

// RegistrationOptions say where the webhook is reached and how it is
// registered.
type RegistrationOptions struct {
	// Name of the objects (default DefaultName).
	Name string
	// Namespace is the webhook's own namespace (default DefaultNamespace):
	// the Service's, and excluded from admission along with kube-system.
	Namespace string
	// ServiceName and ServicePort reach the webhook in-cluster (default Name,
	// 443). ServiceNamespace defaults to Namespace.
	ServiceName      string
	ServiceNamespace string
	ServicePort      int32
	// URL, when set, is used instead of the Service: the webhook's base URL
	// (https://host:port), MutatePath and ValidatePath are appended.
	URL string
	// MutatePath and ValidatePath default to the handlers' paths.
	MutatePath, ValidatePath string
	// CABundle is the PEM CA that signed the serving certificate (left empty
	// when something else injects it, e.g. cert-manager's ca-injector).
	CABundle []byte
	// ValidatingFailurePolicy is the failurePolicy of the validating webhook
	// for objects carrying the task template annotation (default Fail: the
	// plugins' invariants on Flyte objects fail closed). The mutating webhook
	// always fails closed (a skeleton must not be stored) and is called
	// first, so this only decides when the mutating call succeeded and the
	// validating one failed (a timeout, a replica gone in between).
	ValidatingFailurePolicy admissionregistrationv1.FailurePolicyType
	// PoliciesFailurePolicy is the failurePolicy of the validating webhook
	// for objects without the annotation, hand-written jobs (default Ignore).
	// With Ignore, the cluster policies (invariants, allowed registries, …)
	// are enforced on them while the webhook is up and not at all while it is
	// down or times out: an outage never blocks users who do not use Flyte,
	// but a job written during one is stored unchecked (the policies do not
	// look at it again). Fail makes the policies hold always, at the price of
	// refusing every SparkApplication, RayJob and DaskJob of the cluster's
	// namespaces while no replica answers.
	PoliciesFailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds per webhook call (default 5).
	TimeoutSeconds int32
}

func (o RegistrationOptions) withDefaults() RegistrationOptions {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ServiceName == "" {
		o.ServiceName = o.Name
	}
	if o.ServiceNamespace == "" {
		o.ServiceNamespace = o.Namespace
	}
	if o.ServicePort == 0 {
		o.ServicePort = 443
	}
	if o.MutatePath == "" {
		o.MutatePath = MutatePath
	}
	if o.ValidatePath == "" {
		o.ValidatePath = ValidatePath
	}
	if o.ValidatingFailurePolicy == "" {
		o.ValidatingFailurePolicy = admissionregistrationv1.Fail
	}
	if o.PoliciesFailurePolicy == "" {
		o.PoliciesFailurePolicy = admissionregistrationv1.Ignore
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = DefaultTimeoutSeconds
	}
	return o
}

// Validate reports options that cannot be registered.
func (o RegistrationOptions) Validate() error {
	o = o.withDefaults()
	if o.URL != "" && !strings.HasPrefix(o.URL, "https://") {
		return fmt.Errorf("webhook URL %q: must start with https://", o.URL)
	}
	if o.TimeoutSeconds < 1 || o.TimeoutSeconds > 30 {
		return fmt.Errorf("timeoutSeconds %d: must be between 1 and 30", o.TimeoutSeconds)
	}
	for _, fp := range []struct {
		name   string
		policy admissionregistrationv1.FailurePolicyType
	}{{"validating", o.ValidatingFailurePolicy}, {"policies", o.PoliciesFailurePolicy}} {
		switch fp.policy {
		case admissionregistrationv1.Fail, admissionregistrationv1.Ignore:
		default:
			return fmt.Errorf("%s failure policy %q: want Fail or Ignore", fp.name, fp.policy)
		}
	}
	return nil
}

func (o RegistrationOptions) clientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	if o.URL != "" {
		u := strings.TrimSuffix(o.URL, "/") + path
		cc.URL = &u
		return cc
	}
	p, port := path, o.ServicePort
	cc.Service = &admissionregistrationv1.ServiceReference{Namespace: o.ServiceNamespace, Name: o.ServiceName, Path: &p, Port: &port}
	return cc
}

// rules: CREATE and UPDATE of the three resources.
func rules() []admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.NamespacedScope
	out := make([]admissionregistrationv1.RuleWithOperations, len(Resources))
	for i, r := range Resources {
		out[i] = admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{r.Group}, APIVersions: []string{r.Version}, Resources: []string{r.Resource}, Scope: &scope,
			},
		}
	}
	return out
}

// namespaceSelector excludes kube-system, the webhook's own namespace and
// namespaces labelled flyte.org/admission=disabled.
func (o RegistrationOptions) namespaceSelector() *metav1.LabelSelector {
	s := o.systemNamespaceSelector()
	s.MatchExpressions = append(s.MatchExpressions,
		metav1.LabelSelectorRequirement{Key: OptOutLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{OptOutValue}})
	return s
}

// systemNamespaceSelector excludes kube-system and the webhook's own namespace
// only: the admission policy also guards namespaces that opted out of the
// webhooks, since a skeleton stored there would reach the operator as is.
func (o RegistrationOptions) systemNamespaceSelector() *metav1.LabelSelector {
	excluded := []string{"kube-system"}
	if o.Namespace != "kube-system" {
		excluded = append(excluded, o.Namespace)
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excluded},
	}}
}

func (o RegistrationOptions) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/name": DefaultName, "app.kubernetes.io/component": "admission"}}
}

// HasTemplateCEL is true for objects carrying the task template annotation.
var HasTemplateCEL = fmt.Sprintf("has(object.metadata.annotations) && '%s' in object.metadata.annotations", task.TemplateAnnotation)

// NoTemplateCEL is HasTemplateCEL negated: objects without the annotation.
var NoTemplateCEL = "!(" + HasTemplateCEL + ")"

// NotDeletingCEL is false for objects being deleted.
const NotDeletingCEL = "!has(object.metadata.deletionTimestamp)"

// UnexpandedCEL is the admission policy's rule: no template annotation, or
// the expansion marker with it.
var UnexpandedCEL = fmt.Sprintf("!has(object.metadata.annotations) || !('%s' in object.metadata.annotations) || '%s' in object.metadata.annotations",
	task.TemplateAnnotation, task.ExpandedFromAnnotation)

// notDeleting is the matchCondition that keeps the apiserver from calling a
// webhook for an object being deleted: the handlers admit those anyway (there
// is nothing to expand or enforce on a job that is going away), and without
// it an operator could not remove its finalizer while the webhook is down
// (failurePolicy Fail), leaving the job Terminating until the webhook is back.
var notDeleting = admissionregistrationv1.MatchCondition{Name: "not-being-deleted", Expression: NotDeletingCEL}

// hasTemplate and noTemplate split the objects between the webhooks for
// Flyte objects (the mutating one, the validating one that fails closed) and
// the one for hand-written jobs.
var (
	hasTemplate = admissionregistrationv1.MatchCondition{Name: "has-task-template", Expression: HasTemplateCEL}
	noTemplate  = admissionregistrationv1.MatchCondition{Name: "no-task-template", Expression: NoTemplateCEL}
)

// MutatingWebhookConfiguration registers the mutating webhook: CREATE and
// UPDATE of the three resources, only for objects carrying the template
// annotation and not being deleted (CEL matchConditions), failing closed.
func MutatingWebhookConfiguration(o RegistrationOptions) *admissionregistrationv1.MutatingWebhookConfiguration {
	o = o.withDefaults()
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	timeout := o.TimeoutSeconds
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: o.meta(),
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    MutatingWebhookName,
			ClientConfig:            o.clientConfig(o.MutatePath),
			Rules:                   rules(),
			FailurePolicy:           &fail,
			MatchPolicy:             &equivalent,
			NamespaceSelector:       o.namespaceSelector(),
			ObjectSelector:          &metav1.LabelSelector{},
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      &reinvoke,
			MatchConditions:         []admissionregistrationv1.MatchCondition{notDeleting, hasTemplate},
		}},
	}
}

// ValidatingWebhookConfiguration registers the validating webhook twice,
// both calling ValidatePath on CREATE and UPDATE of the three resources for
// objects not being deleted: ValidatingWebhookName for objects carrying the
// template annotation (failurePolicy ValidatingFailurePolicy, default Fail)
// and PoliciesWebhookName for the others (PoliciesFailurePolicy, default
// Ignore). The matchConditions are each other's negation, so every object
// is validated once; while the webhook is down, hand-written jobs go through
// and Flyte objects are refused.
func ValidatingWebhookConfiguration(o RegistrationOptions) *admissionregistrationv1.ValidatingWebhookConfiguration {
	o = o.withDefaults()
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: o.meta(),
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			o.validatingWebhook(ValidatingWebhookName, o.ValidatingFailurePolicy, hasTemplate),
			o.validatingWebhook(PoliciesWebhookName, o.PoliciesFailurePolicy, noTemplate),
		},
	}
}

// validatingWebhook is one webhook of the validating configuration: objects
// not being deleted that match which.
func (o RegistrationOptions) validatingWebhook(name string, fp admissionregistrationv1.FailurePolicyType, which admissionregistrationv1.MatchCondition) admissionregistrationv1.ValidatingWebhook {
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	timeout := o.TimeoutSeconds
	return admissionregistrationv1.ValidatingWebhook{
		Name:                    name,
		ClientConfig:            o.clientConfig(o.ValidatePath),
		Rules:                   rules(),
		FailurePolicy:           &fp,
		MatchPolicy:             &equivalent,
		NamespaceSelector:       o.namespaceSelector(),
		ObjectSelector:          &metav1.LabelSelector{},
		SideEffects:             &none,
		TimeoutSeconds:          &timeout,
		AdmissionReviewVersions: []string{"v1"},
		MatchConditions:         []admissionregistrationv1.MatchCondition{notDeleting, which},
	}
}

// ValidatingAdmissionPolicy refuses, inside the apiserver (no webhook call),
// any object of the three kinds that carries flyte.org/task-template but no
// flyte.org/expanded-from: an un-expanded skeleton is never stored, even
// when the mutating webhook is down or set to Ignore.
func ValidatingAdmissionPolicy(o RegistrationOptions) *admissionregistrationv1.ValidatingAdmissionPolicy {
	o = o.withDefaults()
	fail := admissionregistrationv1.Fail
	invalid := metav1.StatusReasonInvalid
	var resourceRules []admissionregistrationv1.NamedRuleWithOperations
	for _, r := range rules() {
		resourceRules = append(resourceRules, admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: r})
	}
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: o.meta(),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: resourceRules},
			// Finishing a deletion (removing finalizers) is never refused.
			MatchConditions: []admissionregistrationv1.MatchCondition{notDeleting},
			Validations: []admissionregistrationv1.Validation{{
				Expression: UnexpandedCEL,
				Message: fmt.Sprintf("metadata.annotations[%s]: the object carries %s but no %s: it was not expanded by the flyte-admission mutating webhook (is the webhook running and registered?)",
					task.TemplateAnnotation, task.TemplateAnnotation, task.ExpandedFromAnnotation),
				Reason: &invalid,
			}},
		},
	}
}

// ValidatingAdmissionPolicyBinding binds the policy in Deny mode to every
// namespace but kube-system and the webhook's own, opted-out ones included.
func ValidatingAdmissionPolicyBinding(o RegistrationOptions) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	o = o.withDefaults()
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: o.meta(),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        o.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources:    &admissionregistrationv1.MatchResources{NamespaceSelector: o.systemNamespaceSelector()},
		},
	}
}

// RegistrationObjects returns the four objects in the order to apply them
// (the policy before its binding).
func RegistrationObjects(o RegistrationOptions) []client.Object {
	return []client.Object{
		ValidatingAdmissionPolicy(o),
		ValidatingAdmissionPolicyBinding(o),
		MutatingWebhookConfiguration(o),
		ValidatingWebhookConfiguration(o),
	}
}
