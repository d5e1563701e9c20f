package webhook

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestResourcesMatchThePlugins(t *testing.T) {
	var want []string
	for _, p := range registry.Plugins() {
		k := p.Kind()
		want = append(want, k.Group+"/"+k.Version+"/"+strings.ToLower(k.Kind)+"s")
	}
	var got []string
	for _, r := range Resources {
		got = append(got, r.Group+"/"+r.Version+"/"+r.Resource)
	}
	require.ElementsMatch(t, want, got)
}

func TestMutatingWebhookConfiguration(t *testing.T) {
	c := MutatingWebhookConfiguration(RegistrationOptions{Namespace: "flyte", CABundle: []byte("PEM")})
	require.Equal(t, "flyte-admission", c.Name)
	require.Equal(t, "admissionregistration.k8s.io/v1", c.APIVersion)
	require.Equal(t, "MutatingWebhookConfiguration", c.Kind)
	require.Len(t, c.Webhooks, 1)
	w := c.Webhooks[0]
	require.Equal(t, MutatingWebhookName, w.Name)
	require.Equal(t, admissionregistrationv1.Fail, *w.FailurePolicy)
	require.Equal(t, admissionregistrationv1.SideEffectClassNone, *w.SideEffects)
	require.Equal(t, admissionregistrationv1.IfNeededReinvocationPolicy, *w.ReinvocationPolicy)
	require.EqualValues(t, 5, *w.TimeoutSeconds)
	require.Equal(t, []string{"v1"}, w.AdmissionReviewVersions)
	require.Equal(t, []admissionregistrationv1.MatchCondition{
		{Name: "not-being-deleted", Expression: "!has(object.metadata.deletionTimestamp)"},
		{Name: "has-task-template", Expression: "has(object.metadata.annotations) && 'flyte.org/task-template' in object.metadata.annotations"},
	}, w.MatchConditions)
	require.Equal(t, &admissionregistrationv1.ServiceReference{Namespace: "flyte", Name: "flyte-admission", Path: ptr.To("/mutate"), Port: ptr.To(int32(443))}, w.ClientConfig.Service)
	require.Equal(t, []byte("PEM"), w.ClientConfig.CABundle)
	requireRules(t, w.Rules)
	requireSelector(t, w.NamespaceSelector, "flyte")
}

func TestValidatingWebhookConfiguration(t *testing.T) {
	c := ValidatingWebhookConfiguration(RegistrationOptions{URL: "https://127.0.0.1:9443/"})
	require.Equal(t, "ValidatingWebhookConfiguration", c.Kind)
	require.Len(t, c.Webhooks, 2)
	notDeleting := admissionregistrationv1.MatchCondition{Name: "not-being-deleted", Expression: "!has(object.metadata.deletionTimestamp)"}
	for _, tc := range []struct {
		name      string
		policy    admissionregistrationv1.FailurePolicyType
		condition admissionregistrationv1.MatchCondition
	}{
		{ValidatingWebhookName, admissionregistrationv1.Fail,
			admissionregistrationv1.MatchCondition{Name: "has-task-template", Expression: HasTemplateCEL}},
		{PoliciesWebhookName, admissionregistrationv1.Ignore,
			admissionregistrationv1.MatchCondition{Name: "no-task-template", Expression: "!(" + HasTemplateCEL + ")"}},
	} {
		i := slices.IndexFunc(c.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool { return w.Name == tc.name })
		require.GreaterOrEqual(t, i, 0, "no webhook %s", tc.name)
		w := c.Webhooks[i]
		require.Equal(t, tc.policy, *w.FailurePolicy, "%s: default", tc.name)
		require.Equal(t, []admissionregistrationv1.MatchCondition{notDeleting, tc.condition}, w.MatchConditions, tc.name)
		require.Equal(t, "https://127.0.0.1:9443/validate", *w.ClientConfig.URL, "%s: the same handler", tc.name)
		require.Nil(t, w.ClientConfig.Service)
		require.Equal(t, admissionregistrationv1.SideEffectClassNone, *w.SideEffects)
		require.Equal(t, admissionregistrationv1.Equivalent, *w.MatchPolicy)
		require.EqualValues(t, 5, *w.TimeoutSeconds)
		requireRules(t, w.Rules)
		requireSelector(t, w.NamespaceSelector, DefaultNamespace)
	}
	require.Equal(t, MutatingWebhookConfiguration(RegistrationOptions{}).Webhooks[0].MatchConditions[1], c.Webhooks[0].MatchConditions[1],
		"the mutating webhook and the fail-closed validating one see the same objects")

	swapped := ValidatingWebhookConfiguration(RegistrationOptions{ValidatingFailurePolicy: admissionregistrationv1.Ignore,
		PoliciesFailurePolicy: admissionregistrationv1.Fail, TimeoutSeconds: 3})
	require.Equal(t, admissionregistrationv1.Ignore, *swapped.Webhooks[0].FailurePolicy)
	require.Equal(t, admissionregistrationv1.Fail, *swapped.Webhooks[1].FailurePolicy)
	require.EqualValues(t, 3, *swapped.Webhooks[0].TimeoutSeconds)
	require.EqualValues(t, 3, *swapped.Webhooks[1].TimeoutSeconds)
}

func TestValidatingAdmissionPolicy(t *testing.T) {
	p := ValidatingAdmissionPolicy(RegistrationOptions{})
	require.Equal(t, "ValidatingAdmissionPolicy", p.Kind)
	require.Equal(t, admissionregistrationv1.Fail, *p.Spec.FailurePolicy)
	require.Len(t, p.Spec.MatchConstraints.ResourceRules, 3)
	var rules []admissionregistrationv1.RuleWithOperations
	for _, r := range p.Spec.MatchConstraints.ResourceRules {
		rules = append(rules, r.RuleWithOperations)
	}
	requireRules(t, rules)
	require.Equal(t, []admissionregistrationv1.MatchCondition{{Name: "not-being-deleted", Expression: "!has(object.metadata.deletionTimestamp)"}}, p.Spec.MatchConditions)
	require.Len(t, p.Spec.Validations, 1)
	v := p.Spec.Validations[0]
	require.Equal(t, "!has(object.metadata.annotations) || !('flyte.org/task-template' in object.metadata.annotations) || 'flyte.org/expanded-from' in object.metadata.annotations", v.Expression)
	require.Contains(t, v.Message, "carries flyte.org/task-template but no flyte.org/expanded-from")
	require.Equal(t, metav1.StatusReasonInvalid, *v.Reason)

	b := ValidatingAdmissionPolicyBinding(RegistrationOptions{Namespace: "flyte"})
	require.Equal(t, "ValidatingAdmissionPolicyBinding", b.Kind)
	require.Equal(t, p.Name, b.Spec.PolicyName)
	require.Equal(t, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}, b.Spec.ValidationActions)
	require.Equal(t, []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "flyte"}},
	}, b.Spec.MatchResources.NamespaceSelector.MatchExpressions, "the policy also guards namespaces that opted out of the webhooks")
}

func TestRegistrationObjects(t *testing.T) {
	objs := RegistrationObjects(RegistrationOptions{})
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	require.Equal(t, []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}, kinds)

	require.NoError(t, RegistrationOptions{}.Validate())
	require.ErrorContains(t, RegistrationOptions{URL: "http://x"}.Validate(), "https://")
	require.ErrorContains(t, RegistrationOptions{TimeoutSeconds: 31}.Validate(), "between 1 and 30")
	require.ErrorContains(t, RegistrationOptions{ValidatingFailurePolicy: "Sometimes"}.Validate(), `validating failure policy "Sometimes": want Fail or Ignore`)
	require.ErrorContains(t, RegistrationOptions{PoliciesFailurePolicy: "Sometimes"}.Validate(), `policies failure policy "Sometimes": want Fail or Ignore`)
	require.NoError(t, RegistrationOptions{ValidatingFailurePolicy: admissionregistrationv1.Ignore, PoliciesFailurePolicy: admissionregistrationv1.Fail}.Validate())
}

func requireRules(t *testing.T, rules []admissionregistrationv1.RuleWithOperations) {
	t.Helper()
	var got []string
	for _, r := range rules {
		require.Equal(t, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, r.Operations)
		require.Equal(t, admissionregistrationv1.NamespacedScope, *r.Scope)
		got = append(got, r.APIGroups[0]+"/"+r.APIVersions[0]+"/"+r.Resources[0])
	}
	require.Equal(t, []string{"sparkoperator.k8s.io/v1beta2/sparkapplications", "ray.io/v1/rayjobs", "kubernetes.dask.org/v1/daskjobs"}, got)
}

func requireSelector(t *testing.T, s *metav1.LabelSelector, ownNamespace string) {
	t.Helper()
	require.Equal(t, []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", ownNamespace}},
		{Key: "flyte.org/admission", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"disabled"}},
	}, s.MatchExpressions)
}
